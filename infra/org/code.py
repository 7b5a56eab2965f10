"""The function's code as one deterministic zip: same lambda/ files, same bytes, same key.

A member stack cannot use CDK's asset bucket (members have no CDK bootstrap), so the code
lives in the organization's own per-Region buckets under a key computed here at synth. The
publish step (``python -m infra.org.publish``) uploads the very bytes this module builds, so
the key in the member template and the object in every bucket always agree.

The zip holds what the reaper's CDK asset holds: the sources and their bytecode for the
runtime (infra/bytecode.py), compiled reproducibly, so the key still depends on the sources
only (and on the compiling Python: synth and publish run in the same venv).
"""

from __future__ import annotations

import hashlib
import io
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from infra.bytecode import SOURCE_DIR, build_code

ASSET_DIR = SOURCE_DIR
KEY_PREFIX = "cc-reaper/"
# Fixed timestamp and permissions: the zip depends on names and contents only.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644


@dataclass(frozen=True)
class CodeBundle:
    body: bytes
    sha256: str

    @property
    def key(self) -> str:
        return f"{KEY_PREFIX}{self.sha256}.zip"


def build_bundle(directory: Path = ASSET_DIR) -> CodeBundle:
    """Build ``directory``'s code (minus the asset excludes, plus bytecode) in a scratch
    directory and zip it with sorted entries and fixed metadata."""
    buffer = io.BytesIO()
    with (
        tempfile.TemporaryDirectory(prefix="cc-reaper-bundle-") as scratch,
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
    ):
        built = build_code(directory, Path(scratch) / "code")
        for relative, path in _files(built):
            info = zipfile.ZipInfo(relative, date_time=ZIP_DATE)
            info.external_attr = FILE_MODE << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    body = buffer.getvalue()
    return CodeBundle(body=body, sha256=hashlib.sha256(body).hexdigest())


def _files(directory: Path) -> list[tuple[str, Path]]:
    """Every file of the built code by relative POSIX path, sorted (its own bytecode too)."""
    return sorted(
        (path.relative_to(directory).as_posix(), path)
        for path in directory.rglob("*")
        if path.is_file()
    )
