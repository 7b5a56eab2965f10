"""The function's code as one deterministic zip: same lambda/ files, same bytes, same key.

A member stack cannot use CDK's asset bucket (members have no CDK bootstrap), so the code
lives in the organization's own per-Region buckets under a key computed here at synth. The
publish step (``python -m infra.org.publish``) uploads the very bytes this module builds, so
the key in the member template and the object in every bucket always agree.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

from infra import constants as c

ASSET_DIR = Path(__file__).resolve().parents[2] / c.LAMBDA_ASSET_DIR
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
    """Zip ``directory`` (minus the asset excludes) with sorted entries and fixed metadata."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*"), key=lambda p: p.relative_to(directory).as_posix()):
            relative = path.relative_to(directory).as_posix()
            if not path.is_file() or _excluded(relative):
                continue
            info = zipfile.ZipInfo(relative, date_time=ZIP_DATE)
            info.external_attr = FILE_MODE << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    body = buffer.getvalue()
    return CodeBundle(body=body, sha256=hashlib.sha256(body).hexdigest())


def _excluded(relative: str) -> bool:
    """The function asset's excludes ("**/<name>"), applied to every part of the path."""
    parts = relative.split("/")
    names = [pattern.removeprefix("**/") for pattern in c.LAMBDA_ASSET_EXCLUDES]
    return any(fnmatch(part, name) for part in parts for name in names)
