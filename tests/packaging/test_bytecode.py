"""The function's code ships the bytecode of its runtime (infra/bytecode.py): Lambda's code
directory is read-only, so a module without its .pyc would be compiled at every cold start.

Given lambda/'s sources copied once (other work may edit lambda/ while these tests run), the
built code holds an unchecked-hash .pyc of the runtime's Python for every module, the handler
imports from it with nothing written, and the organization's code zip of it is the same bytes
whichever process builds it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import marshal
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from infra import constants as c
from infra.bytecode import (
    LAMBDA_TASK_ROOT,
    SOURCE_DIR,
    build_code,
    compiles_for_runtime,
    source_files,
    staged_code,
)
from infra.org.code import build_bundle

ROOT = Path(__file__).resolve().parents[2]
CACHE_TAG = f"cpython-{c.PYTHON_VERSION.replace('.', '')}"
# PEP 552: bit 0 set = hash-based; bit 1 clear = the importer does not check the hash.
UNCHECKED_HASH_FLAGS = 0b01
CHILD_TIMEOUT_SECONDS = 120


def bytecode_of(source: Path) -> Path:
    return source.parent / "__pycache__" / f"{source.stem}.{CACHE_TAG}.pyc"


def copy_sources(source: Path, into: Path) -> Path:
    for relative, path in source_files(source):
        (into / relative).parent.mkdir(parents=True, exist_ok=True)
        (into / relative).write_bytes(path.read_bytes())
    return into


def files_and_hashes(directory: Path) -> dict[str, str]:
    return {
        path.relative_to(directory).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in directory.rglob("*")
        if path.is_file()
    }


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_sources(SOURCE_DIR, tmp_path_factory.mktemp("lambda"))


@pytest.fixture(scope="module")
def built(snapshot: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_code(snapshot, tmp_path_factory.mktemp("built") / "code")


def test_every_module_ships_unchecked_hash_bytecode_of_the_runtime(built: Path) -> None:
    # The runtime's magic number is this Python's: test_versions.py keeps them the same.
    assert f"{sys.version_info.major}.{sys.version_info.minor}" == c.PYTHON_VERSION
    sources = sorted(built.rglob("*.py"))
    assert len(sources) > 20 and (built / "reaper" / "handler.py") in sources

    for source in sources:
        data = bytecode_of(source).read_bytes()
        assert data[:4] == importlib.util.MAGIC_NUMBER, source
        assert int.from_bytes(data[4:8], "little") == UNCHECKED_HASH_FLAGS, source
        assert data[8:16] == importlib.util.source_hash(source.read_bytes()), source
        # The file name a traceback shows is where Lambda unpacks it, not the build directory.
        code = marshal.loads(data[16:])
        assert code.co_filename == f"{LAMBDA_TASK_ROOT}/{source.relative_to(built).as_posix()}"

    # No other bytecode (no stale cache of another Python) and files the runtime can read.
    assert set(built.rglob("*.pyc")) == {bytecode_of(source) for source in sources}
    assert {path.stat().st_mode & 0o777 for path in built.rglob("*") if path.is_file()} == {0o644}


def test_the_handler_imports_the_built_bytecode_and_writes_nothing(
    built: Path, tmp_path: Path
) -> None:
    # Given the built code, whose handler source would stop any import that executed it
    code = shutil.copytree(built, tmp_path / "code")
    (code / "reaper" / "handler.py").write_text("raise SystemExit('the source was executed')\n")
    before = files_and_hashes(code)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(
        PYTHONPATH=str(code),
        POWERTOOLS_SERVICE_NAME="cloudcontrol-reaper",
        POWERTOOLS_METRICS_NAMESPACE="CloudControlReaper",
        POWERTOOLS_TRACE_DISABLED="true",
        AWS_DEFAULT_REGION="us-east-1",
    )

    # When a fresh interpreter allowed to write bytecode imports the handler from it
    completed = subprocess.run(
        [sys.executable, "-c", "import reaper.handler as h; print(h.__file__)"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_SECONDS,
        check=False,
    )

    # Then the module came from there, by its bytecode (not its source), and no file changed
    assert completed.returncode == 0, completed.stderr
    assert Path(completed.stdout.strip()) == code / "reaper" / "handler.py"
    assert files_and_hashes(code) == before


def test_the_code_zip_is_the_same_bytes_from_two_fresh_processes(snapshot: Path) -> None:
    script = (
        "import sys; from pathlib import Path; from infra.org.code import build_bundle; "
        "print(build_bundle(Path(sys.argv[1])).sha256)"
    )

    def in_a_fresh_process(hash_seed: str) -> str:
        completed = subprocess.run(
            [sys.executable, "-c", script, str(snapshot)],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT_SECONDS,
            check=True,
        )
        return completed.stdout.strip()

    first, second = in_a_fresh_process("1"), in_a_fresh_process("2")
    bundle = build_bundle(snapshot)

    assert first == second == bundle.sha256
    names = zipfile.ZipFile(io.BytesIO(bundle.body)).namelist()
    sources = [name for name in names if name.endswith(".py")]
    assert sorted(name for name in names if name.endswith(".pyc")) == sorted(
        bytecode_of(Path(name)).as_posix() for name in sources
    )


def test_the_staged_code_is_reused_until_a_source_changes(snapshot: Path, tmp_path: Path) -> None:
    # Given a copy of the sources staged twice in one cloud assembly
    source = shutil.copytree(snapshot, tmp_path / "lambda")
    root = tmp_path / "cdk.out" / c.LAMBDA_CODE_STAGING_DIR
    first = staged_code(root, source)
    assert staged_code(root, source) == first
    assert list(root.iterdir()) == [first]  # one build, no partial directory left

    # When a source changes, it is staged anew (a new CDK asset hash), with its new bytecode
    (source / "reaper" / "clock.py").write_text("CHANGED = True\n")
    second = staged_code(root, source)

    assert second != first
    assert sorted(root.iterdir()) == sorted([first, second])
    changed = bytecode_of(Path("reaper/clock.py"))
    assert (second / changed).read_bytes() != (first / changed).read_bytes()


def test_another_python_ships_the_sources_only_and_says_so(
    snapshot: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    major, minor = (int(part) for part in c.PYTHON_VERSION.split("."))
    assert compiles_for_runtime((major, minor))
    assert not compiles_for_runtime((major, minor - 1))

    # A runtime of another minor version: its bytecode would be ignored, so none is built
    monkeypatch.setattr(c, "PYTHON_VERSION", f"{major}.{minor + 1}")
    built = build_code(snapshot, tmp_path / "code")
    assert (built / "reaper" / "handler.py").is_file()
    assert not list(built.rglob("*.pyc"))
    assert c.LAMBDA_RUNTIME in capsys.readouterr().err
