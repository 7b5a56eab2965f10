"""Given a fresh local account, when `make demo` runs, then it exits 0, and its report says what
was cancelled, what was left alone and why, and what went to the dead-letter queue, every line
checked against the account; it ends with an operator's plan, approval and apply (the CLI in a
subprocess) and writes the HTML report, printing its path. How fast it runs is the benchmarks'
business, not this test's."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO_ROOT

# Only a guard against a hung child (a server that never stops), far beyond any normal run on
# a loaded machine: not a speed requirement.
HANG_GUARD_SECONDS = 900


@pytest.mark.timeout(HANG_GUARD_SECONDS + 30)
def test_the_demo_runs_end_to_end_and_its_report_holds(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    report = tmp_path / "demo-report.html"
    result = subprocess.run(
        [sys.executable, "-m", "reaper_local.demo", "--report", str(report)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_SECONDS,
        check=False,
    )
    out = result.stdout

    assert result.returncode == 0, out[-3000:] + result.stderr[-2000:]
    assert "Traceback" not in out + result.stderr
    for heading in (
        "Cancelled (read back from the audit table)",
        "Left alone, and why (audit table)",
        "Dead-letter queue (read back, left in place)",
        "The blocked deployment, as it happened",
        "Leftovers: what `cc-reaper leftovers` would show",
        "Events received by a test rule on the default bus",
        "Checks: expected vs what the account says",
    ):
        assert heading in out
    assert "CloudControlReaper: CREATE_COMPLETE" in out
    assert (
        "handler returned {'listed': 10, 'decided': 6, 'handedOff': 0, 'stoppedEarly': False}"
        in out
    )
    assert "InvalidToken" in out and "deferred_cap" in out and "excluded by excludeTypes" in out
    # 1. The blocked deployment: refused, unblocked through its CloudTrail record, retried.
    assert "ConcurrentOperationException: Concurrent operation found for resource" in out
    assert "ConflictRule → work queue → function: cancel_complete" in out
    assert "blocked_call: UpdateResource by arn:aws:sts::" in out
    assert re.search(r"the deployment's retry \w{8} → SUCCESS", out)
    # 2. What the cancels left behind, as the function checked it.
    assert re.search(
        r"\d+ cancelled request\(s\): [1-9]\d* resource\(s\) exist, [1-9]\d* gone", out
    )
    # 3. The stale request whose hook still runs, left alone.
    assert "hook HOOK_IN_PROGRESS: waiting until age" in out
    # 4. The reaper's events, as a rule on the default bus received them.
    assert "Resource Request Cancelled" in out
    # 5. The operator: a plan of the stale requests, the approval and apply, the HTML report.
    assert "▶ 6. An operator with cc-reaper" in out
    assert "$ cc-reaper --stack-name CloudControlReaper plan --config " in out
    assert re.search(r"Plan [0-9a-f-]{36}: 3 stale request\(s\) would be cancelled", out)
    assert re.search(
        r"Listed \d+ PENDING/IN_PROGRESS request\(s\): 1 filtered, \d+ not_stale, 3 stale", out
    )
    assert re.search(r"apply \S+plan\.json --approved-by ops-lead --no-dry-run --yes", out)
    assert re.search(r"Apply plan ([0-9a-f-]{36}) \(cancelling\), approved by ops-lead", out)
    assert re.search(r"2 cancelled, 1 skipped; delivery id plan-[0-9a-f-]{36}\n", out)
    assert re.search(
        r"reason \(audited with each decision\): plan [0-9a-f-]{36} approved by ops-lead", out
    )
    assert "no longer stale" in out and "already" in out
    assert f"Report: {report}\n" in out
    html = report.read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 5
    assert not re.search(r"https?://", html)
    assert "✗" not in out
    assert re.search(r"All \d+ checks hold", out)
    assert out.index("Report: ") < out.index("Checks: expected vs what the account says")
    assert re.search(r"All \d+ checks hold", out.split("Checks: expected vs")[-1])
    assert re.search(r"Took \d+\.\d s", out)  # the report says how long, whatever it was
