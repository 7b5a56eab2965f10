"""Goals 1, 2 and 4: one scheduled sweep through the real handler, and the obvious script.

The sweep runs in a fresh process (``bench.handler_child``) against the emulator (own
process, one account-wide bucket of ``quota`` calls/s, ``latency_ms`` per call) and moto
(own process). Cloud Control calls are counted by the emulator, not by the reaper.
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Any

from bench.handler_child import RESULT_PREFIX
from bench.scenario import Seeded, check_account, seed_account
from bench.stack import AuditStack, Services, aws_client, cpu_seconds, create_audit_stack

CHILD_TIMEOUT_SECONDS = 1800
ACTIVE = ["PENDING", "IN_PROGRESS"]


@dataclass(frozen=True)
class SweepResult:
    quota: float
    latency_ms: float
    stale: int
    healthy: int
    finished: int
    wall_seconds: float  # the handler invocation (clients built at its start included)
    process_seconds: float  # the whole fresh process: interpreter, imports, invocation
    calls: dict[str, int]
    total_calls: int
    throttled: int
    bound_seconds: float  # total_calls / quota
    ratio: float  # wall_seconds / bound_seconds (goal <= 1.15)
    cancelled: int
    calls_per_cancel: float
    stale_not_cancelled: int
    wrongly_cancelled: int
    audit_decisions: int
    audit_outcomes: dict[str, int]
    audit_items: dict[str, int]
    work_queue: int
    dead_letters: int
    peak_rss_mb: float
    log_lines: int
    decided_log_bytes: int  # the "decided" lines, as CloudWatch Logs ingests them
    verify_seconds: float
    import_seconds: float
    cpu_seconds: float  # user + system CPU of the function's process
    cpu_system_seconds: float  # of which system (kernel) time
    # CPU the emulator and moto used while the function ran: on a machine of ``cpus`` cores
    # the three processes cannot finish before (sum of their CPU) / cpus.
    helper_cpu_seconds: dict[str, float]
    cpus: int
    aws_calls: dict[str, int]  # DynamoDB and SQS calls, counted in the function's process
    write_units: float
    read_units: float
    response: dict[str, Any]

    @property
    def cpu_bound_seconds(self) -> float:
        return (self.cpu_seconds + sum(self.helper_cpu_seconds.values())) / self.cpus

    @property
    def ok(self) -> bool:
        return (
            self.stale_not_cancelled == 0
            and self.wrongly_cancelled == 0
            and self.audit_decisions == self.stale
            and self.dead_letters == 0
            and self.work_queue == 0
        )


@dataclass(frozen=True)
class Logged:
    """What a child wrote to its log, as CloudWatch Logs would ingest it (a line and its
    newline): every line, and the "decided" lines alone."""

    lines: int
    bytes: int
    decided_lines: int
    decided_bytes: int


def logged(lines: list[str]) -> Logged:
    sizes = [len(line.encode()) + 1 for line in lines]
    decided = [n for line, n in zip(lines, sizes, strict=True) if '"message":"decided"' in line]
    return Logged(len(lines), sum(sizes), len(decided), sum(decided))


def run_child(
    args: list[str], env: dict[str, str], wrapper: list[str] | None = None
) -> tuple[dict[str, Any], float, Logged]:
    """Run bench.handler_child (under ``wrapper``, e.g. a profiler, if given); return its
    result, its process wall time and what it logged (its result line left out)."""
    with tempfile.TemporaryFile("w+", encoding="utf-8") as out:
        began = time.perf_counter()
        completed = subprocess.run(
            [*(wrapper or []), sys.executable, "-m", "bench.handler_child", *args],
            env=env,
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            timeout=CHILD_TIMEOUT_SECONDS,
            check=False,
            cwd=os.getcwd(),
        )
        seconds = time.perf_counter() - began
        out.seek(0)
        lines = out.read().splitlines()
    results = [line for line in lines if line.startswith(RESULT_PREFIX)]
    if completed.returncode != 0 or not results:
        tail = "\n".join(lines[-20:])
        raise RuntimeError(
            f"handler_child failed ({completed.returncode}):\n{tail}\n{completed.stderr[-4000:]}"
        )
    log = logged([line for line in lines if not line.startswith(RESULT_PREFIX)])
    return json.loads(results[-1][len(RESULT_PREFIX) :]), seconds, log


def audit_of_sweep(
    audit: AuditStack, seeded: Seeded, run_id: str
) -> tuple[dict[str, str], dict[str, int]]:
    """The decision of each stale token (keyed by the sweep's run id, docs/DESIGN.md) and how
    many first-sighting and claim items exist for the tokens the sweep listed."""
    active = [t for t, status in seeded.untouched.items() if status in ACTIVE]
    wanted = [(f"TOKEN#{t}", f"DECISION#sweep#{run_id}") for t in seeded.stale]
    wanted += [(f"TOKEN#{t}", "SEEN") for t in [*seeded.stale, *active]]
    wanted += [(f"TOKEN#{t}", "CLAIM") for t in seeded.stale]
    found = audit.get_items(wanted)
    outcomes = {
        item["token"]["S"]: item["outcome"]["S"]
        for (_, sk), item in found.items()
        if sk.startswith("DECISION#")
    }
    counts: dict[str, int] = {}
    for _, sk in found:
        kind = sk.split("#", 1)[0]
        counts[kind] = counts.get(kind, 0) + 1
    return outcomes, counts


def run_sweep(
    services: Services,
    quota: float,
    latency_ms: float,
    stale: int,
    knobs: dict[str, Any] | None = None,
    wrapper: list[str] | None = None,
) -> SweepResult:
    """``knobs``: more emulator settings (e.g. cancel_complete_after_seconds)."""
    emulator = services.emulator
    emulator.account(latency_ms, quota, knobs)
    seeded = seed_account(emulator, stale=stale, healthy=stale, finished=stale)
    config = {
        "dry_run": False,
        "max_cancellations_per_run": max(10_000, stale),
        "calls_per_second": quota,
        "max_concurrency": 1,
    }
    audit = create_audit_stack(services, config)
    try:
        helpers_before = {name: cpu_seconds(pid) for name, pid in services.pids.items()}
        child, process_seconds, log = run_child(
            ["sweep", "--remaining-ms", "900000"], audit.env, wrapper
        )
        helper_cpu = {
            name: round(cpu_seconds(pid) - helpers_before[name], 2)
            for name, pid in services.pids.items()
        }
        verify_began = time.perf_counter()
        state = emulator.state(requests=True)
        check = check_account(state, seeded)
        outcomes, items = audit_of_sweep(audit, seeded, str(child["request_id"]))
        depths = audit.queue_depths()
        verify_seconds = time.perf_counter() - verify_began
    finally:
        audit.delete()
    calls: dict[str, int] = state["calls"]
    total = sum(calls.values())
    wall = float(child["invoke_s"])
    bound = total / quota
    by_outcome: dict[str, int] = {}
    for outcome in outcomes.values():
        by_outcome[outcome] = by_outcome.get(outcome, 0) + 1
    return SweepResult(
        quota=quota,
        latency_ms=latency_ms,
        stale=stale,
        healthy=stale,
        finished=stale,
        wall_seconds=wall,
        process_seconds=process_seconds,
        calls=calls,
        total_calls=total,
        throttled=int(state["throttled"]),
        bound_seconds=bound,
        ratio=wall / bound if bound else float("nan"),
        cancelled=check.stale_cancelled,
        calls_per_cancel=total / max(1, check.stale_cancelled),
        stale_not_cancelled=check.stale_not_cancelled,
        wrongly_cancelled=check.wrongly_cancelled,
        audit_decisions=len(outcomes),
        audit_outcomes=by_outcome,
        audit_items=items,
        work_queue=depths["work"],
        dead_letters=depths["dead_letter"],
        peak_rss_mb=float(child["peak_rss_mb"]),
        log_lines=log.lines,
        decided_log_bytes=log.decided_bytes,
        verify_seconds=verify_seconds,
        import_seconds=float(child["import_s"]),
        cpu_seconds=float(child["cpu_seconds"]),
        cpu_system_seconds=float(child.get("cpu_system_seconds", 0)),
        helper_cpu_seconds=helper_cpu,
        cpus=os.cpu_count() or 1,
        aws_calls=child.get("aws_calls", {}),
        write_units=float(child.get("write_units", 0)),
        read_units=float(child.get("read_units", 0)),
        response=child.get("response", {}),
    )


@dataclass(frozen=True)
class IdleSweep:
    """A scheduled sweep of an account with nothing to do: what each idle run costs."""

    process_seconds: float  # interpreter, imports, clients, one List call, metrics
    import_seconds: float
    invoke_seconds: float
    peak_rss_mb: float
    cloud_control_calls: int
    aws_calls: dict[str, int]
    read_units: float = 0.0
    log_bytes: int = 0  # every line the idle run wrote


def run_idle_sweep(
    services: Services, quota: float, latency_ms: float, knobs: dict[str, Any] | None = None
) -> IdleSweep:
    services.emulator.account(latency_ms, quota, knobs)
    audit = create_audit_stack(services, {"dry_run": False, "calls_per_second": quota})
    try:
        child, process_seconds, log = run_child(["sweep", "--remaining-ms", "900000"], audit.env)
    finally:
        audit.delete()
    calls = services.emulator.state(requests=False)["calls"]
    return IdleSweep(
        process_seconds=process_seconds,
        import_seconds=float(child["import_s"]),
        invoke_seconds=float(child["invoke_s"]),
        peak_rss_mb=float(child["peak_rss_mb"]),
        cloud_control_calls=sum(calls.values()),
        aws_calls=child.get("aws_calls", {}),
        read_units=float(child.get("read_units", 0)),
        log_bytes=log.bytes,
    )


# ---------------------------------------------------------------------- the obvious script
@dataclass(frozen=True)
class SerialResult:
    stale: int
    cancelled: int
    wrongly_cancelled: int
    seconds: float
    total_calls: int
    throttled: int
    seconds_per_cancel: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _threshold_seconds(type_name: str) -> float:
    """The reaper's default policy, written out: a day for RDS-like types, else 6 hours."""
    long_running = ("AWS::RDS::*", "AWS::DocDB::*", "AWS::Neptune::*", "AWS::EKS::*")
    return 24 * 3600 if any(fnmatch.fnmatchcase(type_name, g) for g in long_running) else 6 * 3600


def serial_script(endpoint_url: str) -> int:
    """What one writes first: list every page, get each request, cancel each stale one."""
    client = aws_client("cloudcontrol", endpoint_url)
    tokens: list[str] = []
    for page in client.get_paginator("list_resource_requests").paginate(
        ResourceRequestStatusFilter={"OperationStatuses": ACTIVE},
        PaginationConfig={"PageSize": 100},
    ):
        tokens.extend(s["RequestToken"] for s in page["ResourceRequestStatusSummaries"])
    cancelled = 0
    for token in tokens:
        event = client.get_resource_request_status(RequestToken=token)["ProgressEvent"]
        if event["OperationStatus"] not in ACTIVE:
            continue
        age = time.time() - event["EventTime"].timestamp()
        if age > _threshold_seconds(event["TypeName"]):
            client.cancel_resource_request(RequestToken=token)
            cancelled += 1
    return cancelled


def run_serial(
    services: Services,
    quota: float,
    latency_ms: float,
    stale: int,
    knobs: dict[str, Any] | None = None,
) -> SerialResult:
    emulator = services.emulator
    emulator.account(latency_ms, quota, knobs)
    seeded = seed_account(emulator, stale=stale, healthy=stale, finished=stale)
    env_keys = ("AWS_ENDPOINT_URL", "AWS_PROFILE")
    saved = {k: os.environ.pop(k) for k in env_keys if k in os.environ}
    try:
        began = time.perf_counter()
        serial_script(emulator.endpoint_url)
        seconds = time.perf_counter() - began
    finally:
        os.environ.update(saved)
    state = emulator.state(requests=True)
    check = check_account(state, seeded)
    calls: dict[str, int] = state["calls"]
    return SerialResult(
        stale=stale,
        cancelled=check.stale_cancelled,
        wrongly_cancelled=check.wrongly_cancelled,
        seconds=seconds,
        total_calls=sum(calls.values()),
        throttled=int(state["throttled"]),
        seconds_per_cancel=seconds / max(1, check.stale_cancelled),
    )
