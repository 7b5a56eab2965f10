"""The reliability fault matrix: a mixed workload through the real handler under one fault or
all of them, then the DLQ replayed, then the promises counted (docs/reliability.md).

Used by tests/reliability (which asserts on each row) and bench/fault_matrix.py (which prints
the table). Modules: ``scenarios`` (what goes wrong), ``workload`` (what the reaper is given),
``world`` (table, queues, Lambda's context and records), ``container`` (one Lambda container
with the faults hooked in), ``killswitch`` (engaging it, timing late cancels), ``letters``
(the oracle's reading of DLQ bodies), ``runner`` (one run), ``accounting`` (its row).
"""

from __future__ import annotations

import os

# Powertools reads these when reaper.observability is first imported (the Lambda's env has them).
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "cloudcontrol-reaper")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "CloudControlReaper")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")

from collections.abc import Callable, Sequence
from typing import Any

from reaper_local.faults.accounting import COLUMNS, Row, format_table
from reaper_local.faults.runner import ScenarioRun
from reaper_local.faults.scenarios import SCENARIOS, Faults, Scenario, scenario
from reaper_local.faults.world import World

DEFAULT_TOKENS = 1500

__all__ = [
    "COLUMNS",
    "DEFAULT_TOKENS",
    "SCENARIOS",
    "Faults",
    "Row",
    "Scenario",
    "format_table",
    "run_all",
    "run_scenario",
    "scenario",
]


def run_scenario(
    moto_endpoint: str, emulator_server: Any, chosen: Scenario, size: int = DEFAULT_TOKENS
) -> Row:
    """Fresh table and queues, a reset emulator, the scenario, and its row."""
    backend = emulator_server.backend
    backend.reset()
    world = World(moto_endpoint, emulator_server.endpoint_url, backend)
    world.create()
    try:
        return ScenarioRun(world, chosen, size).execute()
    finally:
        world.delete()
        backend.reset()


def run_all(
    moto_endpoint: str,
    emulator_server: Any,
    chosen: Sequence[Scenario] = SCENARIOS,
    size: int = DEFAULT_TOKENS,
    progress: Callable[[Row], None] | None = None,
) -> list[Row]:
    rows = []
    for s in chosen:
        row = run_scenario(moto_endpoint, emulator_server, s, size)
        rows.append(row)
        if progress:
            progress(row)
    return rows
