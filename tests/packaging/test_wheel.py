"""Given the project built as a wheel and installed into a fresh virtual environment with its
base dependencies only (what ``pipx install .`` does), then ``cc-reaper`` works there, and
neither the test tools nor the local stack's moto came along (they are the ``local`` extra
and requirements-dev.txt). About 25 s, most of it pip resolving the base dependencies from its
cache."""

from __future__ import annotations

import email
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

# One worker builds and installs once (``make test`` runs ``-n 2 --dist loadgroup``).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("packaging")]

ROOT = Path(__file__).resolve().parents[2]
QUIET_PIP = ["--quiet", "--disable-pip-version-check", "--no-input"]


def run(
    *command: str | Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )


def source_copy(into: Path) -> Path:
    """What the wheel is built from, copied: setuptools' build/ folder in the working tree
    would keep modules deleted since, and two builds at once would share it."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, into / name)
    for folder in project["tool"]["setuptools"]["package-dir"].values():
        shutil.copytree(
            ROOT / folder, into / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    return into


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    source = source_copy(tmp_path_factory.mktemp("source"))
    built = run(sys.executable, "-m", "pip", "wheel", *QUIET_PIP, "--no-deps", "-w", out, source)
    assert built.returncode == 0, built.stderr
    (found,) = out.glob("cloudcontrol_request_reaper-*.whl")
    return found


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin folder of a fresh venv holding the wheel and its base dependencies."""
    venv = tmp_path_factory.mktemp("venv") / "venv"
    assert run(sys.executable, "-m", "venv", venv).returncode == 0
    bin_dir = venv / "bin"
    done = run(bin_dir / "python", "-m", "pip", "install", *QUIET_PIP, wheel)
    assert done.returncode == 0, done.stderr
    return bin_dir


def metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return email.message_from_bytes(archive.read(name))


def test_the_wheel_says_what_it_is_and_needs(wheel):
    meta = metadata(wheel)

    assert meta["License-Expression"] == "Apache-2.0"
    assert meta["Requires-Python"] == ">=3.11"
    assert meta["Description-Content-Type"] == "text/markdown"
    base = [r for r in meta.get_all("Requires-Dist") if "extra ==" not in r]
    assert sorted(r.split(">")[0].split("[")[0].split("<")[0] for r in base) == [
        "aws-lambda-powertools",
        "boto3",
        "pydantic",
        "rich",
    ]
    assert any(
        r.startswith("moto[server]") and 'extra == "local"' in r
        for r in meta.get_all("Requires-Dist")
    )


def test_cc_reaper_runs_from_a_base_install(installed):
    version = run(installed / "cc-reaper", "--version")
    usage = run(installed / "cc-reaper", "--help")

    assert (version.returncode, version.stdout) == (0, "cc-reaper 0.1.0\n"), version.stderr
    assert usage.returncode == 0 and usage.stdout.startswith("usage: cc-reaper"), usage.stderr


def test_a_command_imports_everything_it_needs_and_fails_in_one_line(installed, tmp_path):
    # No credentials anywhere: the command gets as far as AWS and stops there, in one line.
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    result = run(installed / "cc-reaper", "--table", "t", "kill-switch", "status", env=env)

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "cc-reaper: error: no AWS credentials: use --profile, AWS_PROFILE or the usual "
        "environment variables"
    ]


def test_the_emulator_needs_no_extra(installed):
    usage = run(installed / "ccapi-emulator", "--help")

    assert usage.returncode == 0 and usage.stdout.startswith("usage: ccapi-emulator")


def test_test_tools_and_the_local_stack_are_not_installed(installed):
    python = installed / "python"
    for module in ("pytest", "moto", "aws_cdk", "hypothesis"):
        found = run(python, "-c", f"import importlib.util as u; print(u.find_spec({module!r}))")
        assert found.stdout.strip() == "None", module
    local_stack = run(python, "-c", "import reaper_local.localstack")
    assert local_stack.returncode != 0
    assert "No module named 'moto'" in local_stack.stderr
