"""The benchmark scripts run end to end and print their numbers (never a timing assertion)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_benchmark_prints_every_number(tmp_path: Path) -> None:
    # Given the quick variant (own emulator and moto processes, small sizes)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    # When it runs
    completed = subprocess.run(
        [sys.executable, "-m", "bench.run_all", "--quick", "--results-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    out = completed.stdout
    # Then it exits cleanly and prints each goal's number
    assert completed.returncode == 0, completed.stderr[-3000:] + out[-3000:]
    number = r"\d+(\.\d+)?"
    for label in (
        r"ratio\s+",
        r"calls per cancelled request\s+",
        r"Peak RSS of the sweep\s+",
        r"reaper ahead by\s+",
        r"ratio handler / boto3\s+",
        r"latency\s+0 ms, follow 60 s:\s+",
        r"follow  0 s:\s+",
        r"CPU bound of this machine\s+",
        r"CPU per call\s+",  # the floor: a bare boto3 cancel loop
        r"\d+ stale\s+" + number + r" ms = \s*",  # CPU per cancel against the floor
        r"large / small\s+",
        r"wall, first start to last end\s+",  # the chain of invocations
        r"a month idle, org member\s+\$\s*",
    ):
        assert re.search(label + number, out), f"{label!r} missing in:\n{out}"
    assert "all cancelled, nothing lost" in out
    assert "nothing lost, nothing twice" in out  # the chain's own check
    # And the same numbers land as JSON, from which the docs' table is made
    report = json.loads((tmp_path / "latest.json").read_text())
    expected = {"floor", "sweep", "sweep_small", "one_invocation", "chain", "serial", "sqs"}
    assert expected | {"cold_start", "cost"} <= set(report)
    assert report["sweep"]["cancelled"] == report["sweep"]["stale"]
    assert report["chain"]["cancelled"] == report["chain"]["stale"]
    table = subprocess.run(
        [sys.executable, "-m", "bench.goals", str(tmp_path / "latest.json")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert table.count("\n| ") >= 14, table  # a row per goal figure
