"""Issue 14's goals, the numbers it started from, and the one table docs/performance.md shows.

``run_all`` writes every figure to ``bench/results/latest.json``; this turns one such file
into the markdown table (each goal's figure next to its floor or bound, and next to the
issue's "today"), so the table is always one run's:

    python -m bench.goals [bench/results/latest.json]
    python -m bench.goals first.json second.json     # pieces run apart, merged (a draft)
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "latest.json"

CPU_RATIO = 2.5  # CPU per cancelled request / the bare boto3 cancel call
CPU_FLAT = 1.1  # CPU per cancel at the large size / at the small size
WRITE_UNITS_PER_CANCEL = 3.0
SQS_RECORDS_PER_SECOND = 20.0  # per invocation, batches of 10, 50 ms, follow on
COST_SWEEP = 2.50  # $ per million tokens
COST_SQS = 4.50
COST_IDLE_ORG_MEMBER = 0.10  # $ a month (issue 13)
CHAIN_RATIO = 1.15  # 5,000 stale at 25/s, 60 s timeout: chain wall / (stale / quota)
ONE_INVOCATION_RATIO = 1.05  # 10,000 at 25/s in one invocation: wall / (calls / quota)
COLD_RATIO = 0.6  # import reaper.handler / import boto3
PEAK_RSS_MB = 100.0
CALLS_PER_CANCEL = 1.03


# Issue 14's CPU per cancel at quota 200, 50 ms, by stale count.
TODAY_CPU = {2_000: "4.6-5.4 ms (3-7x)", 10_000: "7.9 ms"}


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


@dataclass(frozen=True)
class Row:
    goal: str
    figure: str
    against: str  # the floor or bound it is measured against
    today: str  # issue 14's starting point (main at 77d6519)
    target: str
    met: bool | None


def _get(report: dict[str, Any], *path: str) -> Any:
    value: Any = report
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def cpu_ms_per_cancel(sweep: dict[str, Any]) -> float:
    return float(sweep["cpu_seconds"]) / max(1, int(sweep["cancelled"])) * 1000


def _cpu_rows(report: dict[str, Any]) -> list[Row]:
    floor = _get(report, "floor", "cpu_ms_per_call")
    rows: list[Row] = []
    per: dict[str, float] = {}
    for key in ("sweep_small", "sweep"):
        sweep = report.get(key)
        if not sweep or floor is None:
            continue
        ms = per[key] = cpu_ms_per_cancel(sweep)
        today = TODAY_CPU.get(int(sweep["stale"]), "-")
        ratio = ms / floor
        rows.append(
            Row(
                f"1. reaper CPU per cancelled request, {sweep['stale']:,} stale",
                f"{ms:.2f} ms = **{ratio:.2f}x** the floor",
                f"bare boto3 cancel {floor:.2f} ms",
                today,
                f"<= {CPU_RATIO}x",
                ratio <= CPU_RATIO,
            )
        )
    waited = _get(report, "floor_at_latency", "cpu_ms_per_call")
    if "sweep" in per and waited:
        latency = _get(report, "floor_at_latency", "latency_ms")
        rows.append(
            Row(
                f"1. (context) the same, {report['sweep']['stale']:,} stale, against the "
                "floor at the sweep's latency",
                f"{per['sweep'] / waited:.2f}x",
                f"bare boto3 cancel at {latency:g} ms latency: {waited:.2f} ms",
                "-",
                "-",
                None,
            )
        )
    if len(per) == 2:
        flat = per["sweep"] / per["sweep_small"]
        rows.append(
            Row(
                "1. flat in N: CPU per cancel, large / small",
                f"**{flat:.2f}**",
                "1.0 (no growth)",
                "~1.5 (7.9 / 5.0)",
                f"<= {CPU_FLAT}",
                flat <= CPU_FLAT,
            )
        )
    return rows


def _simple_rows(report: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    sweep = report.get("sweep")
    if sweep:
        wru = float(sweep["write_units"]) / max(1, int(sweep["cancelled"]))
        rows.append(
            Row(
                "2. DynamoDB write units per cancel (sweep)",
                f"**{wru:.2f}**",
                "1 (one conditional write)",
                "6.0",
                f"<= {WRITE_UNITS_PER_CANCEL:g}",
                wru <= WRITE_UNITS_PER_CANCEL,
            )
        )
        cpc = float(sweep["calls_per_cancel"])
        lists = int(sweep["calls"].get("ListResourceRequests", 0))
        floor = 1 + (int(sweep["stale"]) + int(sweep["healthy"])) / 100 / int(sweep["stale"])
        rows.append(
            Row(
                "6. Cloud Control calls per cancel",
                f"**{cpc:.3f}** ({lists} List)",
                f"{floor:.3f} (a cancel each + the active listing)",
                "1.033 (334 List)",
                f"<= {CALLS_PER_CANCEL}",
                cpc <= CALLS_PER_CANCEL,
            )
        )
        rss = float(sweep["peak_rss_mb"])
        rows.append(
            Row(
                f"6. peak RSS, {sweep['stale']:,} stale",
                f"**{rss:.1f} MB**",
                "-",
                "82 MB",
                f"<= {PEAK_RSS_MB:g} MB",
                rss <= PEAK_RSS_MB,
            )
        )
    sqs = [r for r in report.get("sqs", []) if r["follow_seconds"] > 0 and r["latency_ms"] >= 50]
    if sqs:
        rps = float(sqs[-1]["warm_records_per_second"])
        rows.append(
            Row(
                "3. SQS records/s per invocation (50 ms, batches of 10, follow on)",
                f"**{rps:.1f}**",
                "-",
                "1.31",
                f">= {SQS_RECORDS_PER_SECOND:g}",
                rps >= SQS_RECORDS_PER_SECOND,
            )
        )
    return rows


def _bound_rows(report: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    chain = report.get("chain")
    if chain:
        rows.append(
            Row(
                f"5. chain: {chain['stale']:,} stale at {chain['quota']:g}/s, "
                f"timeout {chain['timeout_seconds']} s ({chain['invocations']} invocations)",
                f"{chain['wall_seconds']:.0f} s = **{chain['ratio']:.2f}x**"
                + (
                    f" (last cancel at {chain['last_cancel_seconds']:.0f} s)"
                    if "last_cancel_seconds" in chain
                    else ""
                )
                + ("" if chain.get("ok", True) else " (not clean: see the run)"),
                f"stale / quota = {chain['bound_seconds']:.0f} s",
                "-",
                f"<= {CHAIN_RATIO}",
                chain["ratio"] <= CHAIN_RATIO and chain.get("ok", True),
            )
        )
    one = report.get("one_invocation")
    if one:
        rows.append(
            Row(
                f"5. {one['stale']:,} stale in one invocation at {one['quota']:g}/s",
                f"{one['wall_seconds']:.0f} s = **{one['ratio']:.2f}x**",
                f"calls / quota = {one['bound_seconds']:.0f} s",
                "1.07",
                f"<= {ONE_INVOCATION_RATIO}",
                one["ratio"] <= ONE_INVOCATION_RATIO,
            )
        )
    cold = report.get("cold_start")
    if cold:
        rows.append(
            Row(
                "6. cold import, reaper.handler / boto3",
                f"{cold['handler_median'] * 1000:.0f} / {cold['boto3_median'] * 1000:.0f} ms "
                f"= **{cold['ratio']:.3f}**",
                "import boto3",
                "0.52",
                f"<= {COLD_RATIO}",
                cold["ratio"] <= COLD_RATIO,
            )
        )
    return rows


def _cost_rows(report: dict[str, Any]) -> list[Row]:
    cost = report.get("cost")
    if not cost:
        return []
    money: list[tuple[str, float, str, float | None]] = [
        (
            "4. $ per million tokens by sweep",
            cost["per_million_tokens_sweep"]["total"],
            "$4.31",
            COST_SWEEP,
        ),
        (
            "4. $ per million tokens via SQS",
            cost["per_million_tokens_sqs"]["total"],
            "$9.77",
            COST_SQS,
        ),
        (
            "4. $ a month, idle account-Region (single account)",
            cost["idle_month"]["total"],
            "$0.92",
            None,
        ),
    ]
    if "idle_month_org_member" in cost:
        money.append(
            (
                "4. $ a month, idle org member (issue 13; workQueue schedule, the default)",
                cost["idle_month_org_member"]["total"],
                "-",
                COST_IDLE_ORG_MEMBER,
            )
        )
    return [
        Row(
            name,
            f"**${value:.2f}**",
            f"list prices of {cost['prices_as_of']}",
            today,
            "-" if goal is None else f"<= ${goal:.2f}",
            None if goal is None else value <= goal,
        )
        for name, value, today, goal in money
    ]


BUILDERS: tuple[Callable[[dict[str, Any]], list[Row]], ...] = (
    _cpu_rows,
    _simple_rows,
    _bound_rows,
    _cost_rows,
)


def rows_of(report: dict[str, Any]) -> list[Row]:
    rows = [row for build in BUILDERS for row in build(report)]
    return sorted(rows, key=lambda r: r.goal.split(".", 1)[0])


def markdown(report: dict[str, Any]) -> str:
    code = report.get("code", {})
    head = (
        f"Run {report.get('stamp', '?')}, code at `{code.get('commit', '?')}` (uncommitted "
        f"changes in lambda/: {code.get('lambda_dirty', '?')}), load average at start "
        f"{float(_get(report, 'load_average', 'start') or 0):.2f}.\n\n"
        "| goal | figure | measured against | today (issue 14) | goal | met? |\n"
        "|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rows_of(report):
        met = "-" if r.met is None else ("yes" if r.met else "**no**")
        lines.append(f"| {r.goal} | {r.figure} | {r.against} | {r.today} | {r.target} | {met} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """One results file (default: the latest run); several are merged, later ones winning
    (pieces run apart: the header then names the first run only, so say so)."""
    args = sys.argv[1:] if argv is None else argv
    report: dict[str, Any] = {}
    for path in [Path(a) for a in args] or [RESULTS]:
        piece = json.loads(path.read_text(encoding="utf-8"))
        report = {**piece, **report} if report else piece
        report.update({k: v for k, v in piece.items() if k not in ("stamp", "code", "args")})
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
