"""The function's code as Lambda should import it: lambda/'s sources with their bytecode.

Lambda's code directory is read-only, so a module shipped without its .pyc is compiled at
every cold start, and the reaper's own modules took about a third of the handler's import
(docs/performance.md, issue 14 goal 6). Every place that ships the code (the CDK asset of the
reaper and of the organization's collector, the organization's code zip) and the cold start
benchmark take it from :func:`build_code`, so the benchmark times what is deployed.

The .pyc files are *unchecked-hash* ones (PEP 552) in the usual ``__pycache__`` layout next
to the sources: their header holds a hash of the source instead of its mtime, and the importer
trusts them without reading the source. They stay valid whatever timestamps a zip gives the
files, and the code directory is immutable, so a source never changes under its .pyc.

A .pyc is only used by the Python minor version that wrote it: when the synthesizing Python is
not the runtime's (``PYTHON_VERSION``), the code ships its sources only (correct, with the
slower cold start of before) and a warning says so; a deployment never fails for it.

The output is deterministic (the organization's code zip is keyed by its sha256): the compiler
runs in a fresh interpreter with a fixed environment, hash seed included (nothing the caller
imported or interned can change what marshal writes), every code object names its file under
Lambda's task root whatever directory it was built in, and files get fixed permissions.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from fnmatch import fnmatch
from pathlib import Path

from infra import constants as c

SOURCE_DIR = Path(__file__).resolve().parent.parent / c.LAMBDA_ASSET_DIR
# Where the Lambda runtime unpacks the code: the file names the bytecode carries.
LAMBDA_TASK_ROOT = "/var/task"
# Part of the fingerprint: a change of how the code is built is a new staged directory.
BUILD_FORMAT = f"compileall unchecked-hash, ddir {LAMBDA_TASK_ROOT}, PYTHONHASHSEED=0"
# Readable by the runtime's user, which does not own the unpacked files.
FILE_MODE = 0o644
DIRECTORY_MODE = 0o755
COMPILE_TIMEOUT_SECONDS = 120
# A build's directory before it is renamed to its fingerprint (never reused).
PARTIAL_PREFIX = ".partial-"


def compiles_for_runtime(
    version: tuple[int, int] = (sys.version_info.major, sys.version_info.minor),
) -> bool:
    """Whether ``version`` (default: this interpreter's) writes bytecode the runtime uses."""
    return f"{version[0]}.{version[1]}" == c.PYTHON_VERSION


def _warn_sources_only() -> None:
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    print(
        f"warning: the function's code ships without bytecode: it is synthesized by Python "
        f"{running}, but runs on {c.LAMBDA_RUNTIME}, which ignores bytecode of another "
        f"minor version (each cold start compiles the reaper's modules). Synthesize with "
        f"Python {c.PYTHON_VERSION} (`make synth` uses the venv `make setup` builds on it).",
        file=sys.stderr,
    )


def source_files(source: Path = SOURCE_DIR) -> list[tuple[str, Path]]:
    """``source``'s files as (relative POSIX path, path), sorted, without the asset excludes
    (caches of any Python: the build makes its own)."""
    found = [
        (path.relative_to(source).as_posix(), path) for path in source.rglob("*") if path.is_file()
    ]
    return sorted((relative, path) for relative, path in found if not _excluded(relative))


def _excluded(relative: str) -> bool:
    """The asset excludes ("**/<name>"), applied to every part of the path."""
    names = [pattern.removeprefix("**/") for pattern in c.LAMBDA_ASSET_EXCLUDES]
    return any(fnmatch(part, name) for part in relative.split("/") for name in names)


def fingerprint(source: Path = SOURCE_DIR) -> str:
    """sha256 of what a build depends on: the files, the compiler's exact Python, the format."""
    digest = hashlib.sha256()
    for part in (sys.version, importlib.util.MAGIC_NUMBER.hex(), BUILD_FORMAT):
        digest.update(part.encode() + b"\0")
    for relative, path in source_files(source):
        body = path.read_bytes()
        digest.update(f"{relative}\0{len(body)}\0".encode() + hashlib.sha256(body).digest())
    return digest.hexdigest()


def build_code(source: Path, into: Path) -> Path:
    """Copy ``source``'s files to the new directory ``into`` and compile every module there.

    Raises RuntimeError when a module does not compile (a syntax error stops the synth
    instead of failing every invocation). Sources only, with a warning, when this Python is
    not the runtime's (see the module docstring).
    """
    into.mkdir(parents=True)
    for relative, path in source_files(source):
        target = into / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    if compiles_for_runtime():
        _compile(into)
    else:
        _warn_sources_only()
    for directory, _, files in os.walk(into):
        os.chmod(directory, DIRECTORY_MODE)
        for name in files:
            os.chmod(os.path.join(directory, name), FILE_MODE)
    return into


def _compile(directory: Path) -> None:
    """compileall in a fresh interpreter: its state (hash seed, interned objects, whatever
    the caller imported) cannot leak into the marshalled bytes."""
    command = [
        sys.executable,
        "-S",  # no site: the standard library's compileall only
        "-m",
        "compileall",
        "-q",
        "-f",
        "-d",
        LAMBDA_TASK_ROOT,
        "--invalidation-mode",
        "unchecked-hash",
        str(directory),
    ]
    completed = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        command,
        env={"PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        timeout=COMPILE_TIMEOUT_SECONDS,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"compiling the function's code failed:\n{completed.stdout}{completed.stderr}"
        )


def staged_code(root: Path, source: Path = SOURCE_DIR) -> Path:
    """The built code under ``root`` (e.g. the cloud assembly's directory), in a directory
    named by its fingerprint: built once, reused by every function and stack of a synth.

    A build goes to a private directory first, renamed into place when complete: a reader
    never sees half a build, and of two concurrent builds one wins, the same bytes.
    """
    target = root / fingerprint(source)
    if target.is_dir():
        return target
    root.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=PARTIAL_PREFIX, dir=root))
    try:
        build_code(source, partial / "code")
        try:
            (partial / "code").rename(target)
        except OSError:
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target
