"""The demo runs as ``make demo`` runs it: a fresh interpreter, from the repository root."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The demo synthesizes the CDK app (a jsii Node process): keep it off the worker that
    # runs the infrastructure tests' synth, and give it its own time limit.
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.xdist_group("demo"))
