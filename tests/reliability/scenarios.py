"""Fault scenarios: a mixed workload through the real handler, under one fault or all of them.

One copy, shared by tests/reliability (which asserts the promises) and bench/fault_matrix.py
(which prints the table). A scenario seeds the emulator, feeds the work queue in SQS batches of
ten records (as Lambda's poller does), runs scheduled sweeps, heals the fault when the scenario
says so, drains the queue, and then reads the emulator's state, the audit table and the DLQ.

Faults come from three places:

- the emulator's own knobs (throttling, InternalFailure, ConcurrentModificationException,
  latency);
- botocore event hooks on the clients the scenario builds and passes to
  ``reaper.wiring.build_reaper(settings, clients=...)``: ``before-call`` hooks answer an
  error instead of calling DynamoDB or the DLQ (as if botocore's retries were spent), and a
  killed container's hooks refuse every call (a Lambda timed out: nothing it does reaches AWS);
- the Lambda context, whose remaining time runs out after a number of cancels.

Definitions (docs/reliability.md):

- *required*: every token an SQS record carried, every malformed body, and every request a
  sweep could find stale. Each must end in the audit table or the DLQ: otherwise it is *lost*.
  Healthy requests a sweep only lists are counted in metrics, not audited, by design.
- *wrongly cancelled*: the emulator accepted a cancel of a token that was not stale, allowed
  and active when read (none at all under a dry run or the kill switch).
- *cancel unaudited*: the emulator accepted a cancel the audit never records as a cancel.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "cloudcontrol-reaper")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "CloudControlReaper")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")

import boto3
import botocore.retries.standard
import reaper.handler as handler
from botocore.config import Config
from ccapi_emulator import Lifecycle
from reaper.adapters.audit_table import AuditTable
from reaper.config import ReaperConfig
from reaper.observability import logger
from reaper.parsing import DEAD_LETTER_KIND, InvalidInput, TokenRequest, parse_body
from reaper.settings import Settings
from reaper.wiring import AwsClients, build_reaper, client_config

from tests.conftest import CREDENTIALS, REGION, FakeLambdaContext, create_audit_table, drain

HOURS = 3600
STALE_TYPE = "AWS::S3::Bucket"
LONG_RUNNING_TYPE = "AWS::RDS::DBInstance"  # a default rule gives it 24 h
EXCLUDED_TYPE = "AWS::IAM::Role"
MAX_RECEIVE_COUNT = 5
DEFAULT_TOKENS = 1500
SWEEP_PERIOD_SECONDS = 15 * 60  # the stack's default schedule
# Tight client timeouts for the tests: the emulator answers in a millisecond or two.
READ_TIMEOUT_SECONDS = 0.25
CANCEL_LATENCY_MS = 400  # beyond READ_TIMEOUT_SECONDS
# botocore's backoff, compressed 100 times: the same number of attempts, no long sleeps.
BACKOFF_SCALE = 0.01


class LambdaKilled(BaseException):
    """Lambda ended the invocation (timeout): nothing after this point reaches AWS.

    A BaseException, so no ``except Exception`` in the reaper or Powertools can swallow it.
    """


# ---------------------------------------------------------------------------- the scenarios
@dataclass(frozen=True)
class Faults:
    """What goes wrong. Emulator knobs are passed to ``backend.configure``."""

    emulator: dict[str, Any] = field(default_factory=dict)
    cancel_latency_ms: float = 0.0
    dynamodb_write_failure: float = 0.0
    dynamodb_throttle: float = 0.0
    dlq_send_failure: float = 0.0
    sweep_record_failures: int = 0  # the first N writes of a sweep's decisions fail
    kill_sweep_after_cancels: int | None = None
    kill_batch_after_cancels: int | None = None
    deadline_sweep_after_cancels: int | None = None
    deadline_batch_after_cancels: int | None = None
    deliver_twice: bool = False
    concurrent_sweeps: bool = False
    finishing_race: bool = False
    # Faults hold for the first sweep and this many SQS invocations, then heal; None: always.
    window: int | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    faults: Faults = Faults()
    dry_run: bool = False
    kill_switch: bool = False

    @property
    def injects(self) -> bool:
        return self.faults != Faults()


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

SCENARIOS: tuple[Scenario, ...] = (
    Scenario("no fault"),
    Scenario(
        "throttling far above the rate",
        Faults(emulator={"rate_per_second": 20.0, "throttle_probability": 0.3}),
    ),
    Scenario(
        "burst of InternalFailure (500)",
        Faults(emulator={"internal_failure_probability": 1.0}, window=8),
    ),
    Scenario(
        "ConcurrentModification on cancel",
        Faults(emulator={"concurrent_modification_probability": 0.6}),
    ),
    Scenario(
        "cancel latency beyond the client timeout",
        Faults(cancel_latency_ms=CANCEL_LATENCY_MS, window=2),
    ),
    Scenario("DynamoDB write failures", Faults(dynamodb_write_failure=0.05)),
    Scenario("DynamoDB throttling", Faults(dynamodb_throttle=0.08)),
    Scenario("audit write fails at the end of a sweep", Faults(sweep_record_failures=1)),
    Scenario(
        "DLQ send failures (and throttling)",
        Faults(emulator={"throttle_probability": 0.5}, dlq_send_failure=1.0),
    ),
    Scenario("Lambda timeout mid-sweep", Faults(kill_sweep_after_cancels=20)),
    Scenario("Lambda timeout mid-batch", Faults(kill_batch_after_cancels=3)),
    Scenario(
        "deadline reached mid-sweep and mid-batch",
        Faults(deadline_sweep_after_cancels=15, deadline_batch_after_cancels=1),
    ),
    Scenario(
        "same message twice, two sweeps at once",
        Faults(deliver_twice=True, concurrent_sweeps=True),
    ),
    Scenario("request finishes between read and cancel", Faults(finishing_race=True)),
    Scenario("dry run", dry_run=True),
    Scenario("kill switch engaged", kill_switch=True),
    Scenario("all at once", ALL_AT_ONCE),
)


def scenario(name: str) -> Scenario:
    return next(s for s in SCENARIOS if s.name == name)


# ---------------------------------------------------------------------------- the workload
@dataclass
class Workload:
    """The tokens of one run, by what the reaper must do with them."""

    allowed: set[str] = field(default_factory=set)  # stale, allowed, active: may be cancelled
    healthy: set[str] = field(default_factory=set)  # young, long-running type, excluded type
    terminal: set[str] = field(default_factory=set)
    finishing: set[str] = field(default_factory=set)  # stale, but finish before the cancel
    unknown: set[str] = field(default_factory=set)  # valid shape, unknown to Cloud Control
    malformed: list[str] = field(default_factory=list)  # bodies that hold no valid token
    bodies: list[str] = field(default_factory=list)  # what goes to the work queue, in order
    sent_tokens: set[str] = field(default_factory=set)  # tokens some SQS record carried
    finish_at: float | None = None
    listed: set[str] = field(default_factory=set)  # tokens with a first sighting stored

    @property
    def tokens_in(self) -> int:
        every = self.allowed | self.healthy | self.terminal | self.finishing | self.unknown
        return len(every) + len(self.malformed)

    @property
    def required(self) -> set[str]:
        """Tokens that must end in the audit table or the DLQ. A finishing request counts once
        a sweep has listed it (``listed``): if none ran while it was active, it was never
        given to the reaper."""
        return self.sent_tokens | self.allowed | (self.finishing & self.listed)


def malformed_bodies(rng: random.Random) -> list[str]:
    long_token = "A" * 129
    shapes = [
        "{not json",
        json.dumps({"requestToken": "bad token!"}),
        json.dumps({"requestToken": long_token}),
        long_token,
        json.dumps({"requestTokens": []}),
        json.dumps({"requestTokens": "abc"}),
        json.dumps({"requestTokens": ["ok-token", 7]}),
        json.dumps({"unexpected": True}),
        json.dumps([1, 2, 3]),
        json.dumps({"requestToken": "x", "mode": "explode"}),
        json.dumps({"source": "someone", "detail-type": "Other", "detail": {}}),
        json.dumps({"kind": DEAD_LETTER_KIND, "requestTokens": []}),
        " ",  # SQS refuses an empty body; a blank one can arrive
        "\u00e9\u00e8" * 10,
    ]
    rng.shuffle(shapes)
    return shapes


def seed_finishing(backend: Any, workload: Workload, count: int) -> None:
    """Stale and IN_PROGRESS now, SUCCESS 100 s later: seeded just before the sweep that reads
    them (the first cancel of one moves the clock past their end)."""
    age = 7 * HOURS
    tokens = backend.seed(count, age_seconds=age, lifecycle=Lifecycle.succeed(age + 100))
    workload.finishing.update(tokens)
    workload.finish_at = backend.clock.now() + 100


def seed_workload(backend: Any, size: int, seed: int = 6) -> Workload:
    """About ``size`` tokens: most only a sweep finds, a sample also arrives through SQS."""
    rng = random.Random(seed)
    w = Workload()
    part = max(1, size // 20)  # 5 % units

    def add(target: set[str], tokens: list[str]) -> list[str]:
        target.update(tokens)
        return tokens

    stale = add(w.allowed, backend.seed(3 * part, type_name=STALE_TYPE, age_seconds=7 * HOURS))
    stale += add(w.allowed, backend.seed(part, status="PENDING", age_seconds=7 * HOURS))
    young = add(w.healthy, backend.seed(9 * part, type_name=STALE_TYPE, age_seconds=600))
    long_running = add(
        w.healthy, backend.seed(2 * part, type_name=LONG_RUNNING_TYPE, age_seconds=7 * HOURS)
    )
    excluded = add(
        w.healthy, backend.seed(2 * part, type_name=EXCLUDED_TYPE, age_seconds=7 * HOURS)
    )
    terminal = add(w.terminal, backend.seed(part, status="SUCCESS", age_seconds=9 * HOURS))
    terminal += add(w.terminal, backend.seed(part // 2, status="FAILED", age_seconds=9 * HOURS))
    terminal += add(
        w.terminal, backend.seed(part // 2, status="CANCEL_COMPLETE", age_seconds=9 * HOURS)
    )
    unknown = add(w.unknown, [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(part)])
    w.malformed = malformed_bodies(rng)

    # SQS costs a few DynamoDB calls a token (moto serves a few hundred a second): a sixth of
    # the tokens arrive through the queue, a sample of every kind.
    sent = (
        rng.sample(stale, len(stale) // 5)
        + rng.sample(young, len(young) // 10)
        + rng.sample(long_running, len(long_running) // 10)
        + rng.sample(excluded, len(excluded) // 10)
        + rng.sample(terminal, len(terminal) // 2)
        + rng.sample(unknown, len(unknown) // 2)
    )
    rng.shuffle(sent)
    w.sent_tokens = set(sent)
    bodies: list[str] = []
    i = 0
    while i < len(sent):
        shape = rng.randrange(3)
        if shape == 0:
            bodies.append(sent[i])
            i += 1
        elif shape == 1:
            bodies.append(json.dumps({"requestToken": sent[i], "reason": "reliability test"}))
            i += 1
        else:
            n = rng.randint(2, 8)
            bodies.append(json.dumps({"requestTokens": sent[i : i + n]}))
            i += n
    # Duplicates: tokens again in other messages, and a few bodies sent twice.
    bodies += [json.dumps({"requestTokens": rng.sample(sent, 5)}) for _ in range(len(sent) // 50)]
    bodies += rng.sample(bodies, 3)
    bodies += w.malformed
    rng.shuffle(bodies)
    w.bodies = bodies
    return w


# ---------------------------------------------------------------------------- fault injection
def _error(status: int, code: str, message: str) -> tuple[Any, dict[str, Any]]:
    """What a ``before-call`` hook returns instead of calling AWS: botocore raises it."""

    class Http:
        status_code = status
        headers: dict[str, str] = {}  # noqa: RUF012

    return Http(), {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }


DYNAMODB_WRITES = ("PutItem", "UpdateItem", "BatchWriteItem", "DeleteItem", "TransactWriteItems")
DYNAMODB_OPERATIONS = (*DYNAMODB_WRITES, "GetItem", "BatchGetItem", "Query")


class LambdaContainer:
    """One Lambda container: its clients (with the scenario's hooks), settings and Reaper."""

    def __init__(self, run: ScenarioRun) -> None:
        self.run = run
        self.killed = False
        self.cancels = 0  # cancels answered in the current invocation
        self.kill_after: int | None = None
        self.deadline_after: int | None = None
        self.deadline_passed = False
        session = boto3.session.Session(region_name=REGION, **CREDENTIALS)
        # The reaper's own client config, with fewer attempts; Cloud Control (the emulator
        # answers in a millisecond or two) with a tight read timeout too.
        config = client_config().merge(
            Config(retries={"mode": "standard", "total_max_attempts": 3})
        )
        tight = config.merge(Config(connect_timeout=1, read_timeout=READ_TIMEOUT_SECONDS))
        world = run.world
        clients = AwsClients(
            cloud_control=session.client(
                "cloudcontrol", endpoint_url=world.emulator_url, config=tight
            ),
            dynamodb=session.client("dynamodb", endpoint_url=world.moto_endpoint, config=config),
            sqs=session.client("sqs", endpoint_url=world.moto_endpoint, config=config),
        )
        for client in (clients.cloud_control, clients.dynamodb, clients.sqs):
            client.meta.events.register_first("before-send", self._refuse_when_killed)
        events = clients.cloud_control.meta.events
        events.register("before-call.cloudcontrol.CancelResourceRequest", self._before_cancel)
        events.register("after-call.cloudcontrol.CancelResourceRequest", self._after_cancel)
        events.register("before-call.cloudcontrol", self._before_read)
        for operation in DYNAMODB_OPERATIONS:
            clients.dynamodb.meta.events.register(
                f"before-call.dynamodb.{operation}", self._dynamodb_fault
            )
        clients.sqs.meta.events.register("before-call.sqs.SendMessageBatch", self._sqs_fault)
        self.settings = Settings(
            audit_table_name=world.table,
            work_queue_url=world.work_url,
            dead_letter_queue_url=world.dlq_url,
            config=run.config,
            tracing=False,
        )
        self.handler_container = handler.Container(
            self.settings,
            build_reaper(self.settings, clients, clock=EmulatorClock(world.backend)),
        )

    # hooks -------------------------------------------------------------------
    def _refuse_when_killed(self, **_: Any) -> None:
        if self.killed:
            raise LambdaKilled()

    def _before_read(self, model: Any = None, **_: Any) -> None:
        """Reads run at no latency: only cancels are slow (see ``_before_cancel``)."""
        if model is not None and model.name != "CancelResourceRequest":
            self.run.set_cancel_latency(False)

    def _before_cancel(self, params: dict[str, Any], **_: Any) -> None:
        self.run.set_cancel_latency(True)
        self.run.maybe_finish_race(params)

    def _after_cancel(self, http_response: Any, **_: Any) -> None:
        if http_response.status_code >= 300:
            return
        with self.run.lock:
            self.cancels += 1
            cancels = self.cancels
        if self.kill_after is not None and cancels >= self.kill_after:
            self.killed = True
            self.run.counts["killed"] += 1
        if self.deadline_after is not None and cancels >= self.deadline_after:
            if not self.deadline_passed:
                self.run.counts["deadline passed"] += 1
            self.deadline_passed = True

    def _dynamodb_fault(self, model: Any, params: dict[str, Any], **_: Any) -> Any:
        run = self.run
        if not run.faulty:
            return None
        f = run.scenario.faults
        if f.sweep_record_failures and model.name in ("BatchWriteItem", "PutItem"):
            body = params.get("body", b"")
            text = body.decode() if isinstance(body, bytes) else str(body)
            with run.lock:
                if (
                    "DECISION#sweep" in text
                    and run.counts["sweep record failed"] < f.sweep_record_failures
                ):
                    run.counts["sweep record failed"] += 1
                    return _error(500, "InternalServerError", "injected: internal server error")
        roll = run.roll()
        if roll < f.dynamodb_throttle:
            run.counts["dynamodb throttled"] += 1
            return _error(
                400, "ProvisionedThroughputExceededException", "injected: throughput exceeded"
            )
        if model.name in DYNAMODB_WRITES and roll < f.dynamodb_throttle + f.dynamodb_write_failure:
            run.counts["dynamodb write failed"] += 1
            return _error(500, "InternalServerError", "injected: internal server error")
        return None

    def _sqs_fault(self, params: dict[str, Any], **_: Any) -> Any:
        run = self.run
        body = params.get("body", b"")
        text = body.decode() if isinstance(body, bytes) else str(body)
        is_dlq = run.world.dlq_url in text
        if run.faulty and is_dlq and run.roll() < run.scenario.faults.dlq_send_failure:
            run.counts["dlq send failed"] += 1
            return _error(500, "InternalError", "injected: the DLQ is failing")
        return None

    # invocations -------------------------------------------------------------
    def context(self) -> FakeLambdaContext:
        container = self

        class Context(FakeLambdaContext):
            def get_remaining_time_in_millis(self) -> int:
                # Well under the reaper's margin once the deadline has passed.
                return 1_000 if container.deadline_passed else 300_000

        return Context()

    def invoke(self, event: Any, *, kill_after: int | None, deadline_after: int | None) -> Any:
        """The real handler, in this container; ``None`` if Lambda killed the invocation."""
        self.cancels = 0
        self.kill_after, self.deadline_after = kill_after, deadline_after
        self.deadline_passed = False
        _local.container = self.handler_container
        try:
            response = handler.lambda_handler(event, self.context())
        except LambdaKilled:
            return None
        finally:
            _local.container = None
        return None if self.killed else response


class EmulatorClock:
    """The reaper's clock is the emulator's manual clock; its sleeps move that clock on."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._backend.clock.now(), UTC)

    def sleep(self, seconds: float) -> None:
        self._backend.clock.advance(max(0.0, seconds))


_local = threading.local()


def _thread_container() -> handler.Container:
    found = getattr(_local, "container", None)
    assert found is not None, "handler called outside a scenario's Container.invoke"
    return found  # type: ignore[no-any-return]


@contextlib.contextmanager
def patched_runtime() -> Iterator[None]:
    """Each invocation uses its thread's container; botocore's backoff is compressed."""
    saved_container = handler.container
    saved_delay = botocore.retries.standard.ExponentialBackoff.delay_amount
    saved_level = logger.log_level

    def quick_delay(self: Any, context: Any) -> float:
        return float(saved_delay(self, context)) * BACKOFF_SCALE

    handler.container = _thread_container  # type: ignore[assignment]
    quiet = contextlib.redirect_stdout(io.StringIO())  # Powertools metrics print per invocation
    quiet.__enter__()
    botocore.retries.standard.ExponentialBackoff.delay_amount = quick_delay  # type: ignore[method-assign]
    logger.setLevel("CRITICAL")  # thousands of decisions: the row tells what happened
    try:
        yield
    finally:
        quiet.__exit__(None, None, None)
        handler.container = saved_container  # type: ignore[assignment]
        botocore.retries.standard.ExponentialBackoff.delay_amount = saved_delay  # type: ignore[method-assign]
        logger.setLevel(saved_level)


# ---------------------------------------------------------------------------- the world
@dataclass
class World:
    """Where a scenario runs: moto's server, the emulator, and fresh table and queues."""

    moto_endpoint: str
    emulator_url: str
    backend: Any
    table: str = ""
    work_url: str = ""
    dlq_url: str = ""
    dynamodb: Any = None
    sqs: Any = None

    def __post_init__(self) -> None:
        session = boto3.session.Session(region_name=REGION, **CREDENTIALS)
        self.dynamodb = session.client("dynamodb", endpoint_url=self.moto_endpoint)
        self.sqs = session.client("sqs", endpoint_url=self.moto_endpoint)

    def create(self) -> None:
        suffix = uuid.uuid4().hex[:10]
        self.table = f"rel-audit-{suffix}"
        create_audit_table(self.dynamodb, self.table)
        self.dlq_url = self.sqs.create_queue(QueueName=f"rel-dlq-{suffix}")["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=self.dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.work_url = self.sqs.create_queue(
            QueueName=f"rel-work-{suffix}",
            Attributes={
                "VisibilityTimeout": "60",
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}
                ),
            },
        )["QueueUrl"]

    def delete(self) -> None:
        with contextlib.suppress(Exception):
            self.dynamodb.delete_table(TableName=self.table)
        for url in (self.work_url, self.dlq_url):
            with contextlib.suppress(Exception):
                self.sqs.delete_queue(QueueUrl=url)


# ---------------------------------------------------------------------------- one run
@dataclass(frozen=True)
class Row:
    fault: str
    tokens_in: int
    cancelled: int
    left_alone: int
    audited: int
    dead_lettered: int
    lost: int
    wrongly_cancelled: int
    cancel_unaudited: int
    duplicate_cancel_outcomes: int
    injected: int
    seconds: float
    lost_tokens: tuple[str, ...] = ()
    wrong_tokens: tuple[str, ...] = ()
    pending_in_work_queue: int = 0
    counts: dict[str, int] = field(default_factory=dict)


COLUMNS = (
    ("fault", 44),
    ("tokens in", 9),
    ("cancelled", 9),
    ("left alone", 10),
    ("audited", 7),
    ("dead-lettered", 13),
    ("lost", 4),
    ("wrongly cancelled", 17),
    ("cancel unaudited", 16),
    ("injected", 8),
    ("s", 5),
)


def format_table(rows: Sequence[Row]) -> str:
    header = "  ".join(
        f"{name:<{width}}" if i == 0 else f"{name:>{width}}"
        for i, (name, width) in enumerate(COLUMNS)
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        values = (
            r.fault,
            r.tokens_in,
            r.cancelled,
            r.left_alone,
            r.audited,
            r.dead_lettered,
            r.lost,
            r.wrongly_cancelled,
            r.cancel_unaudited,
            r.injected,
            f"{r.seconds:.1f}",
        )
        lines.append(
            "  ".join(
                f"{v:<{w}}" if i == 0 else f"{v!s:>{w}}"
                for i, (v, (_, w)) in enumerate(zip(values, COLUMNS, strict=True))
            )
        )
    return "\n".join(lines)


class ScenarioRun:
    """Runs one scenario against a World and measures the promises."""

    def __init__(self, world: World, chosen: Scenario, size: int) -> None:
        self.world = world
        self.scenario = chosen
        self.size = size
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.faulty = chosen.injects
        self._random = random.Random(11)
        self._latency_on = False
        self._sqs_invocations = 0
        self._sweeps = 0
        self.config = ReaperConfig(
            dry_run=chosen.dry_run,
            calls_per_second=1000,
            max_concurrency=1,
            max_cancellations_per_run=500,
            exclude_types=("AWS::IAM::*",),
            max_receive_count=MAX_RECEIVE_COUNT,
        )
        self.workload = Workload()

    def roll(self) -> float:
        with self.lock:
            return self._random.random()

    # faults the hooks apply ----------------------------------------------------
    def set_cancel_latency(self, on: bool) -> None:
        latency = self.scenario.faults.cancel_latency_ms
        if not latency or not self.faulty:
            return
        with self.lock:
            if on == self._latency_on:
                return
            self._latency_on = on
            self.world.backend.configure(latency_ms=latency if on else 0.0)
            if on:
                self.counts["slow cancels"] += 1

    def maybe_finish_race(self, params: dict[str, Any]) -> None:
        """The first cancel of a finishing request moves the clock past its end."""
        finish_at = self.workload.finish_at
        body = params.get("body", b"")
        text = body.decode() if isinstance(body, bytes) else str(body)
        if finish_at is None or not any(t in text for t in self.workload.finishing):
            return
        clock = self.world.backend.clock
        with self.lock:
            if clock.now() <= finish_at:
                clock.advance(finish_at + 1 - clock.now())
                self.counts["finished before the cancel"] += 1

    def heal(self) -> None:
        if not self.faulty:
            return
        self.faulty = False
        knobs = self.scenario.faults.emulator
        if knobs or self.scenario.faults.cancel_latency_ms:
            defaults = {
                "throttle_probability": 0.0,
                "internal_failure_probability": 0.0,
                "concurrent_modification_probability": 0.0,
                "rate_per_second": None,
                "latency_ms": 0.0,
            }
            self.world.backend.configure(**defaults)

    # the run -----------------------------------------------------------------
    def execute(self) -> Row:
        started = time.monotonic()
        world, faults = self.world, self.scenario.faults
        backend = world.backend
        self.workload = seed_workload(backend, self.size)
        if self.scenario.kill_switch:
            AuditTable(world.dynamodb, world.table).set_kill_switch(
                True, "reliability test", "tests", datetime.now(UTC)
            )
        if faults.emulator:
            backend.configure(**faults.emulator)
        with patched_runtime():
            self.container = LambdaContainer(self)
            bodies = self.workload.bodies
            third = len(bodies) // 3
            for i in range(0, len(bodies), 10):
                if i // 10 == third // 10:
                    if faults.finishing_race:
                        seed_finishing(backend, self.workload, max(1, self.size // 20))
                    self._sweep()
                self._send(bodies[i : i + 10])
                self._poll()
            self.heal()
            self._drain()
            # The next scheduled sweep, and the one after it when a sweep died (its claims
            # expire after CLAIM_TTL, 16 minutes), each followed by the queue's deliveries.
            for _ in range(2 if faults.kill_sweep_after_cancels else 1):
                backend.clock.advance(SWEEP_PERIOD_SECONDS)
                self._sweep()
                self._drain()
        return self._measure(time.monotonic() - started)

    def _after_sqs_invocation(self) -> None:
        self._sqs_invocations += 1
        self._heal_when_window_closes()

    def _heal_when_window_closes(self) -> None:
        window = self.scenario.faults.window
        if window is not None and self._sweeps and self._sqs_invocations >= window:
            self.heal()

    def _fresh_container_if_killed(self) -> None:
        if self.container.killed:
            self.container = LambdaContainer(self)

    def _send(self, bodies: Sequence[str]) -> None:
        entries = [{"Id": str(n), "MessageBody": b} for n, b in enumerate(bodies)]
        if entries:
            self.world.sqs.send_message_batch(QueueUrl=self.world.work_url, Entries=entries)

    def _record_of(self, body: str, message_id: str, receive_count: int = 1) -> dict[str, Any]:
        return {
            "messageId": message_id,
            "receiptHandle": message_id,
            "body": body,
            "attributes": {"ApproximateReceiveCount": str(receive_count)},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:work",
            "awsRegion": REGION,
        }

    def _invoke_records(self, records: list[dict[str, Any]], _: Any) -> set[str] | None:
        """Invoke with a batch; the message ids that failed, or None if killed."""
        faults = self.scenario.faults if self.faulty else Faults()
        deliveries = 2 if faults.deliver_twice else 1
        failed: set[str] = set()
        if deliveries > 1:
            self.counts["delivered twice"] += len(records)
        for _attempt in range(deliveries):
            response = self.container.invoke(
                {"Records": records},
                kill_after=faults.kill_batch_after_cancels,
                deadline_after=faults.deadline_batch_after_cancels,
            )
            if response is None:
                self._fresh_container_if_killed()
                return None
            failed |= {f["itemIdentifier"] for f in response["batchItemFailures"]}
        return failed

    def _poll(self) -> bool:
        world = self.world
        received = world.sqs.receive_message(
            QueueUrl=world.work_url,
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])
        if not received:
            return False
        records = [
            self._record_of(
                m["Body"], m["MessageId"], int(m["Attributes"].get("ApproximateReceiveCount", 1))
            )
            for m in received
        ]
        failed = self._invoke_records(records, None)
        self._after_sqs_invocation()
        done = [] if failed is None else [m for m in received if m["MessageId"] not in failed]
        retry = [m for m in received if m not in done]
        if done:
            world.sqs.delete_message_batch(
                QueueUrl=world.work_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done)
                ],
            )
        if retry:  # visible again at once (a real queue waits out the visibility timeout)
            world.sqs.change_message_visibility_batch(
                QueueUrl=world.work_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                    for n, m in enumerate(retry)
                ],
            )
        return True

    def _drain(self, limit: int = 2_000) -> None:
        for _ in range(limit):
            if not self._poll():
                return
        raise AssertionError("the work queue never drained")

    def _sweep(self) -> None:
        faults = self.scenario.faults if self.faulty else Faults()
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": "2026-01-01T00:00:00Z",
            "region": REGION,
            "resources": [],
            "detail": {},
        }

        def one(container: LambdaContainer) -> None:
            try:
                container.invoke(
                    event | {"id": str(uuid.uuid4())},
                    kill_after=faults.kill_sweep_after_cancels,
                    deadline_after=faults.deadline_sweep_after_cancels,
                )
            except Exception:
                self.counts["sweep raised"] += 1

        if faults.concurrent_sweeps:
            self.counts["sweeps at once"] += 2
            other = LambdaContainer(self)
            threads = [threading.Thread(target=one, args=(c,)) for c in (self.container, other)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        else:
            one(self.container)
        self._fresh_container_if_killed()
        self._sweeps += 1
        self._heal_when_window_closes()

    # measuring -----------------------------------------------------------------
    def _measure(self, seconds: float) -> Row:
        world, w = self.world, self.workload
        snapshot = world.backend.snapshot(include_requests=False)
        cancelled = set(snapshot.cancelled)
        raced = set(snapshot.cancel_noops) & w.finishing
        if raced:
            self.counts["cancel found it finished"] = len(raced)
        decisions: dict[str, list[str]] = {}
        for item in _scan(world.dynamodb, world.table):
            if item["sk"]["S"] == "SEEN":
                w.listed.add(item["pk"]["S"].removeprefix("TOKEN#"))
            if item["sk"]["S"].startswith("DECISION#"):
                # A decision written ahead of a cancel whose invocation ended ("Interrupted")
                # says the cancel was sent: it accounts for the cancel too.
                interrupted = item.get("error_code", {}).get("S") == "Interrupted"
                outcome = "cancel_interrupted" if interrupted else item["outcome"]["S"]
                decisions.setdefault(item["token"]["S"], []).append(outcome)
        dead = _dead_lettered(drain(world.sqs, world.dlq_url))
        pending = _dead_lettered(drain(world.sqs, world.work_url))
        audited = set(decisions)
        valid_required = w.required
        accounted = audited | dead | pending
        lost = sorted((valid_required - accounted) | (set(w.malformed) - dead - pending))
        allowed = set() if self.scenario.dry_run or self.scenario.kill_switch else w.allowed
        wrong = sorted(cancelled - allowed)
        cancel_outcomes = {"cancelled", "cancel_complete"}
        accountable = {*cancel_outcomes, "cancel_interrupted"}
        unaudited = [
            t for t in cancelled if not accountable & set(decisions.get(t, ())) and t not in dead
        ]
        duplicates = [
            t for t, outs in decisions.items() if sum(o in cancel_outcomes for o in outs) > 1
        ]
        injected = (
            sum(snapshot.faults.values())
            + snapshot.throttled
            + sum(v for k, v in self.counts.items() if k != "sweep raised")
        )
        return Row(
            fault=self.scenario.name,
            tokens_in=w.tokens_in,
            cancelled=len(cancelled),
            left_alone=w.tokens_in - len(cancelled),
            audited=len(audited & (w.required | w.healthy | w.terminal)),
            dead_lettered=len(dead & (w.required | set(w.malformed))),
            lost=len(lost),
            wrongly_cancelled=len(wrong),
            cancel_unaudited=len(unaudited),
            duplicate_cancel_outcomes=len(duplicates),
            injected=injected,
            seconds=seconds,
            lost_tokens=tuple(lost[:20]),
            wrong_tokens=tuple(wrong[:20]),
            pending_in_work_queue=len(pending),
            counts=dict(self.counts),
        )


def _scan(dynamodb: Any, table: str) -> Iterator[dict[str, Any]]:
    params: dict[str, Any] = {"TableName": table}
    while True:
        page = dynamodb.scan(**params)
        yield from page["Items"]
        if "LastEvaluatedKey" not in page:
            return
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _dead_lettered(messages: Sequence[dict[str, Any]]) -> set[str]:
    """Tokens (or, for input without one, the original body) the messages account for."""
    found: set[str] = set()
    for message in messages:
        body = message["Body"]
        try:
            record = json.loads(body)
        except ValueError:
            record = None
        if (
            isinstance(record, dict)
            and record.get("kind") == DEAD_LETTER_KIND
            and "error" in record
        ):
            tokens = record.get("requestTokens") or []
            found.update(tokens)
            if not tokens:
                found.add(record.get("original", ""))
            continue
        # A body the redrive policy moved as it was: what the reaper would read from it.
        try:
            parsed = parse_body(body)
        except InvalidInput:
            found.add(body)
            continue
        if isinstance(parsed, TokenRequest):
            found.update(parsed.tokens)
    return found


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
