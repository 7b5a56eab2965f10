"""What goes wrong in each row of the fault matrix, and which evidence shows it did.

A row's guard is its ``evidence``: counters the run increases only when a fault really
happened (a read timeout the client saw, a batch the handler really took twice, two sweeps
whose invocations overlapped in time...). Each must be above 0, or the row proves nothing.
Emulator *modes* are not faults: they hold for the whole run (replay included).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CANCEL_LATENCY_MS = 400  # beyond the scenarios' client read timeout (0.25 s)

# Evidence counter names (what ``ScenarioRun.counts`` holds).
EMULATOR_FAULTS = "emulator answered a fault"
READ_TIMEOUTS = "client read timeouts"
DYNAMODB_THROTTLED = "dynamodb throttled"
DYNAMODB_WRITE_FAILED = "dynamodb write failed"
SWEEP_RECORD_FAILED = "sweep record failed"
TABLE_DOWN = "audit table down after the cancels"
DLQ_SEND_FAILED = "dlq send failed"
KILLED = "invocations killed"
DEADLINE_SEEN = "deadline seen by the reaper"
RECEIVED_TWICE = "batches handled twice"
SWEEPS_OVERLAPPED = "sweeps overlapped"
FOUND_FINISHED = "cancel found it finished"
FINISHED_CANCEL_ERRORS = "cancel of a finished request answered an error"
KILL_SWITCH_MID_SWEEP = "kill switch engaged mid-sweep"
LISTED_WITHOUT_TYPE = "listed without a TypeName"
MODE_IN_FORCE = "emulator mode in force"
EVIDENCE = (
    EMULATOR_FAULTS,
    READ_TIMEOUTS,
    DYNAMODB_THROTTLED,
    DYNAMODB_WRITE_FAILED,
    SWEEP_RECORD_FAILED,
    TABLE_DOWN,
    DLQ_SEND_FAILED,
    KILLED,
    DEADLINE_SEEN,
    RECEIVED_TWICE,
    SWEEPS_OVERLAPPED,
    FOUND_FINISHED,
    FINISHED_CANCEL_ERRORS,
    KILL_SWITCH_MID_SWEEP,
    LISTED_WITHOUT_TYPE,
)


@dataclass(frozen=True)
class Faults:
    """What goes wrong. Emulator knobs are passed to ``backend.configure``."""

    emulator: dict[str, Any] = field(default_factory=dict)
    cancel_latency_ms: float = 0.0
    dynamodb_write_failure: float = 0.0
    dynamodb_throttle: float = 0.0
    dlq_send_failure: float = 0.0
    sweep_record_failures: int = 0  # the first N writes of a sweep's decisions fail
    table_down_after_sweep_cancels: bool = False  # every table call fails from the final write
    kill_sweep_after_cancels: int | None = None
    kill_batch_after_cancels: int | None = None
    deadline_sweep_after_cancels: int | None = None
    deadline_batch_after_cancels: int | None = None
    deliver_twice: bool = False
    concurrent_sweeps: bool = False
    finishing_race: bool = False
    kill_switch_after_cancels: int | None = None  # engaged mid-sweep, after N sweep cancels
    # Faults hold for the first sweep and this many SQS invocations, then heal; None: always.
    window: int | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    faults: Faults = Faults()
    evidence: tuple[str, ...] = ()
    modes: dict[str, Any] = field(default_factory=dict)  # emulator modes for the whole run
    dry_run: bool = False
    kill_switch: bool = False  # engaged before the run
    # Pace the reaper so that the stale requests take about this long to cancel (None: fast).
    cancel_seconds: float | None = None

    @property
    def injects(self) -> bool:
        return self.faults != Faults()

    @property
    def switch_engaged(self) -> bool:
        return self.kill_switch or self.faults.kill_switch_after_cancels is not None


ALL_AT_ONCE = Faults(
    emulator={
        "throttle_probability": 0.2,
        "internal_failure_probability": 0.1,
        "concurrent_modification_probability": 0.3,
    },
    dynamodb_write_failure=0.03,
    dynamodb_throttle=0.03,
    dlq_send_failure=0.3,
    kill_batch_after_cancels=3,
    kill_sweep_after_cancels=20,
    deliver_twice=True,
    concurrent_sweeps=True,
    finishing_race=True,
)
ALL_AT_ONCE_EVIDENCE = (
    EMULATOR_FAULTS,
    DYNAMODB_THROTTLED,
    DYNAMODB_WRITE_FAILED,
    DLQ_SEND_FAILED,
    KILLED,
    RECEIVED_TWICE,
    SWEEPS_OVERLAPPED,
)
MODES_ON: dict[str, Any] = {
    "cursor": "positional",
    "listing_lag_seconds": 10.0,
    "finished_cancel": "concurrent-modification",
    "missing_type_name": "list",
    "missing_type_name_fraction": 0.5,
}

SCENARIOS: tuple[Scenario, ...] = (
    Scenario("no fault"),
    Scenario(
        "throttling far above the rate",
        Faults(emulator={"rate_per_second": 20.0, "throttle_probability": 0.3}),
        (EMULATOR_FAULTS,),
    ),
    Scenario(
        "burst of InternalFailure (500)",
        Faults(emulator={"internal_failure_probability": 1.0}, window=8),
        (EMULATOR_FAULTS,),
    ),
    Scenario(
        "ConcurrentModification on cancel",
        Faults(emulator={"concurrent_modification_probability": 0.6}),
        (EMULATOR_FAULTS,),
    ),
    Scenario(
        "cancel latency beyond the client timeout",
        Faults(cancel_latency_ms=CANCEL_LATENCY_MS, window=2),
        (READ_TIMEOUTS,),
    ),
    Scenario(
        "DynamoDB write failures", Faults(dynamodb_write_failure=0.05), (DYNAMODB_WRITE_FAILED,)
    ),
    Scenario("DynamoDB throttling", Faults(dynamodb_throttle=0.08), (DYNAMODB_THROTTLED,)),
    Scenario(
        "audit write fails at the end of a sweep",
        Faults(sweep_record_failures=1),
        (SWEEP_RECORD_FAILED,),
    ),
    Scenario(
        "audit table down after a sweep's cancels",
        Faults(table_down_after_sweep_cancels=True, window=0),
        (TABLE_DOWN,),
    ),
    Scenario(
        "DLQ send failures (and throttling)",
        Faults(emulator={"throttle_probability": 0.5}, dlq_send_failure=1.0),
        (EMULATOR_FAULTS, DLQ_SEND_FAILED),
    ),
    Scenario("Lambda timeout mid-sweep", Faults(kill_sweep_after_cancels=20), (KILLED,)),
    Scenario("Lambda timeout mid-batch", Faults(kill_batch_after_cancels=3), (KILLED,)),
    Scenario(
        "deadline reached mid-sweep and mid-batch",
        Faults(deadline_sweep_after_cancels=15, deadline_batch_after_cancels=1),
        (DEADLINE_SEEN,),
    ),
    Scenario(
        "same message twice, two sweeps at once",
        Faults(deliver_twice=True, concurrent_sweeps=True),
        (RECEIVED_TWICE, SWEEPS_OVERLAPPED),
    ),
    Scenario(
        "request finishes between read and cancel",
        Faults(finishing_race=True),
        (FOUND_FINISHED,),
    ),
    Scenario("dry run", dry_run=True),
    Scenario("kill switch engaged", kill_switch=True),
    Scenario(
        "kill switch engaged mid-sweep",
        Faults(kill_switch_after_cancels=10),
        (KILL_SWITCH_MID_SWEEP,),
        cancel_seconds=12.0,
    ),
    Scenario("positional cursor", modes={"cursor": "positional"}, evidence=(MODE_IN_FORCE,)),
    Scenario("listing lag 10 s", modes={"listing_lag_seconds": 10.0}, evidence=(MODE_IN_FORCE,)),
    Scenario(
        "cancel of a finished request answers an error",
        Faults(finishing_race=True),
        (FINISHED_CANCEL_ERRORS,),
        modes={"finished_cancel": "concurrent-modification"},
    ),
    Scenario(
        "cancel of a finished request answers InvalidRequest",
        Faults(finishing_race=True),
        (FINISHED_CANCEL_ERRORS,),
        modes={"finished_cancel": "invalid-request"},
    ),
    Scenario(
        "requests without a TypeName",
        modes={"missing_type_name": "list", "missing_type_name_fraction": 0.5},
        evidence=(LISTED_WITHOUT_TYPE,),
    ),
    Scenario("all at once", ALL_AT_ONCE, ALL_AT_ONCE_EVIDENCE),
    Scenario(
        "all at once, emulator modes on",
        ALL_AT_ONCE,
        (*ALL_AT_ONCE_EVIDENCE, LISTED_WITHOUT_TYPE),
        modes=MODES_ON,
    ),
)


def scenario(name: str) -> Scenario:
    found = [s for s in SCENARIOS if s.name == name]
    if not found:
        raise KeyError(f"no scenario {name!r}; known: {[s.name for s in SCENARIOS]}")
    return found[0]
