"""The function deploys what the tests ran: the Python of this test run is the Lambda runtime,
and the Powertools layer is the version requirements.txt pins (and the tests import)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import aws_lambda_powertools

from infra import constants as c

ROOT = Path(__file__).resolve().parents[2]


def test_the_tests_run_on_the_python_the_function_runs_on():
    running = f"{sys.version_info.major}.{sys.version_info.minor}"

    assert running == c.PYTHON_VERSION, (
        f"the function deploys {c.LAMBDA_RUNTIME} but these tests run on Python {running}: "
        "`make setup` rebuilds .venv on the function's Python (or pass PYTHON=...)"
    )


def test_the_layer_is_the_powertools_version_pinned_and_tested():
    pins = re.findall(
        r"^aws-lambda-powertools(?:\[[^\]]*\])?==([0-9.]+)\s*$",
        (ROOT / "requirements.txt").read_text(),
        flags=re.MULTILINE,
    )

    assert pins == [c.POWERTOOLS_VERSION]
    assert aws_lambda_powertools.__version__ == c.POWERTOOLS_VERSION
    assert (
        f"/aws/service/powertools/python/arm64/python{c.PYTHON_VERSION}/{c.POWERTOOLS_VERSION}"
    ) == c.POWERTOOLS_LAYER_PARAMETER


def test_the_makefile_reads_the_python_version_from_infra():
    # `make` builds the venv with the Python this sed finds: the line it reads must exist.
    assert re.search(
        r'^PYTHON_VERSION: Final = "[0-9.]+"$', (ROOT / "infra/constants.py").read_text(), re.M
    )
    assert "infra/constants.py" in (ROOT / "Makefile").read_text()
