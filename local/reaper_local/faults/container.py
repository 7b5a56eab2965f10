"""One Lambda container of a fault scenario: its clients, with the scenario's faults hooked
into botocore, its settings and its Reaper; and the runtime patches every run needs.

Faults reach the reaper three ways: the emulator's knobs; botocore hooks on the clients passed
to ``reaper.wiring.build_reaper(settings, clients=...)`` (``before-call`` answers an error
instead of calling DynamoDB or the DLQ, as if botocore's retries were spent; a killed
container refuses every call); and the Lambda context, whose time runs out. The hooks also
count what really happened: the evidence a row's guard reads.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import re
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import botocore.retries.standard
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError
from reaper import handler, sizing, wiring
from reaper.observability import logger
from reaper.settings import Settings
from reaper.wiring import AwsClients, client_config

from reaper_local.faults import scenarios as ev
from reaper_local.faults.world import EmulatorClock, LambdaContext, session

if TYPE_CHECKING:
    from reaper_local.faults.runner import ScenarioRun

# Tight client timeouts: the emulator answers in a millisecond or two.
READ_TIMEOUT_SECONDS = 0.25
# botocore's backoff, compressed 100 times: the same number of attempts, no long sleeps.
BACKOFF_SCALE = 0.01
DYNAMODB_WRITES = ("PutItem", "UpdateItem", "BatchWriteItem", "DeleteItem", "TransactWriteItems")
DYNAMODB_OPERATIONS = (*DYNAMODB_WRITES, "GetItem", "BatchGetItem", "Query")
_CANCEL_OUTCOME = re.compile(r'"S":\s*"cancel(led|_complete)"')


class LambdaKilled(BaseException):
    """Lambda ended the invocation (timeout): nothing after this point reaches AWS.

    A BaseException, so no ``except Exception`` in the reaper or Powertools can swallow it.
    """


def _error(status: int, code: str, message: str) -> tuple[Any, dict[str, Any]]:
    """What a ``before-call`` hook returns instead of calling AWS: botocore raises it."""

    class Http:
        status_code = status
        headers: dict[str, str] = {}  # noqa: RUF012

    return Http(), {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }


def _text(params: dict[str, Any]) -> str:
    body = params.get("body", b"")
    return body.decode() if isinstance(body, bytes) else str(body)


class LambdaContainer:
    """One Lambda container: its clients (with the scenario's hooks), settings and Reaper."""

    def __init__(self, run: ScenarioRun) -> None:
        self.run = run
        self.killed = False
        self.cancels = 0  # cancels answered in the current invocation
        self.kill_after: int | None = None
        self.deadline_after: int | None = None
        self.deadline_passed = False
        self.sweeping = False
        self.table_down = False
        config = client_config().merge(
            Config(retries={"mode": "standard", "total_max_attempts": 3})
        )
        tight = config.merge(Config(connect_timeout=1, read_timeout=READ_TIMEOUT_SECONDS))
        world = run.world
        s = session()
        clients = AwsClients(
            cloud_control=s.client("cloudcontrol", endpoint_url=world.emulator_url, config=tight),
            dynamodb=s.client("dynamodb", endpoint_url=world.moto_endpoint, config=config),
            sqs=s.client("sqs", endpoint_url=world.moto_endpoint, config=config),
        )
        for client in (clients.cloud_control, clients.dynamodb, clients.sqs):
            client.meta.events.register_first("before-send", self._refuse_when_killed)
        events = clients.cloud_control.meta.events
        events.register("before-call.cloudcontrol.CancelResourceRequest", self._before_cancel)
        events.register("after-call.cloudcontrol.CancelResourceRequest", self._after_cancel)
        events.register("after-call.cloudcontrol.ListResourceRequests", self._after_list)
        events.register("before-call.cloudcontrol", self._before_read)
        events.register("needs-retry.cloudcontrol", self._saw_timeout)
        for operation in DYNAMODB_OPERATIONS:
            clients.dynamodb.meta.events.register(
                f"before-call.dynamodb.{operation}", self._dynamodb_fault
            )
        clients.sqs.meta.events.register("before-call.sqs.SendMessageBatch", self._sqs_fault)
        assert run.config is not None, "the run builds its config before its containers"
        self.settings = Settings(
            audit_table_name=world.table,
            work_queue_url=world.work_url,
            dead_letter_queue_url=world.dlq_url,
            config=run.config,
            tracing=False,
        )
        self.handler_container = _handler_container(
            self.settings, clients, EmulatorClock(world.backend)
        )

    # hooks -------------------------------------------------------------------
    def _refuse_when_killed(self, **_: Any) -> None:
        if self.killed:
            raise LambdaKilled()

    def _saw_timeout(self, caught_exception: Any = None, **_: Any) -> None:
        if isinstance(caught_exception, ReadTimeoutError):
            self.run.count(ev.READ_TIMEOUTS)

    def _before_read(self, model: Any = None, **_: Any) -> None:
        """Reads run at no latency: only cancels are slow (see ``_before_cancel``)."""
        if model is not None and model.name != "CancelResourceRequest":
            self.run.set_cancel_latency(False)

    def _before_cancel(self, params: dict[str, Any], context: Any = None, **_: Any) -> None:
        self.run.set_cancel_latency(True)
        token = json.loads(_text(params) or "{}").get("RequestToken", "")
        if context is not None:
            context["fault_matrix_token"] = token
        self.run.maybe_finish_race(token)

    def _after_cancel(self, http_response: Any, parsed: Any, context: Any = None, **_: Any) -> None:
        if http_response.status_code >= 300:
            token = (context or {}).get("fault_matrix_token")
            if token in self.run.workload.finishing and parsed.get("Error"):
                self.run.count(ev.FINISHED_CANCEL_ERRORS)
            return
        with self.run.lock:
            self.cancels += 1
            cancels = self.cancels
        if self.kill_after is not None and cancels >= self.kill_after:
            self.killed = True
        if self.deadline_after is not None and cancels >= self.deadline_after:
            self.deadline_passed = True

    def _after_list(self, http_response: Any, parsed: Any, **_: Any) -> None:
        if http_response.status_code < 300:
            missing = sum(
                1 for s in parsed.get("ResourceRequestStatusSummaries", []) if not s.get("TypeName")
            )
            if missing:
                self.run.count(ev.LISTED_WITHOUT_TYPE, missing)

    def _dynamodb_fault(self, model: Any, params: dict[str, Any], **_: Any) -> Any:
        run = self.run
        if not run.faulty:
            return None
        f = run.scenario.faults
        if f.table_down_after_sweep_cancels and self.sweeping:
            text = _text(params)
            if not self.table_down and model.name in DYNAMODB_WRITES:
                self.table_down = "DECISION#sweep" in text and bool(_CANCEL_OUTCOME.search(text))
            if self.table_down:
                run.count(ev.TABLE_DOWN)
                return _error(500, "InternalServerError", "injected: the table is down")
        if f.sweep_record_failures and model.name in ("BatchWriteItem", "PutItem"):
            text = _text(params)
            with run.lock:
                if (
                    "DECISION#sweep" in text
                    and run.counts[ev.SWEEP_RECORD_FAILED] < f.sweep_record_failures
                ):
                    run.counts[ev.SWEEP_RECORD_FAILED] += 1
                    return _error(500, "InternalServerError", "injected: internal server error")
        roll = run.roll()
        if roll < f.dynamodb_throttle:
            run.count(ev.DYNAMODB_THROTTLED)
            return _error(
                400, "ProvisionedThroughputExceededException", "injected: throughput exceeded"
            )
        if model.name in DYNAMODB_WRITES and roll < f.dynamodb_throttle + f.dynamodb_write_failure:
            run.count(ev.DYNAMODB_WRITE_FAILED)
            return _error(500, "InternalServerError", "injected: internal server error")
        return None

    def _sqs_fault(self, params: dict[str, Any], **_: Any) -> Any:
        run = self.run
        is_dlq = run.world.dlq_url in _text(params)
        if run.faulty and is_dlq and run.roll() < run.scenario.faults.dlq_send_failure:
            run.count(ev.DLQ_SEND_FAILED)
            return _error(500, "InternalError", "injected: the DLQ is failing")
        return None

    # invocations -------------------------------------------------------------
    def context(self) -> LambdaContext:
        container = self

        class Context(LambdaContext):
            def get_remaining_time_in_millis(self) -> int:
                # Well under the reaper's margin once the deadline has passed.
                if container.deadline_passed:
                    container.run.count(ev.DEADLINE_SEEN)
                    return 1_000
                return 300_000

        return Context()

    def invoke(
        self, event: Any, *, kill_after: int | None, deadline_after: int | None, sweep: bool
    ) -> Any:
        """The real handler, in this container. Raises LambdaKilled if Lambda killed it."""
        self.cancels = 0
        self.kill_after, self.deadline_after = kill_after, deadline_after
        self.deadline_passed = False
        self.sweeping, self.table_down = sweep, False
        _local.container = self.handler_container
        try:
            response = handler.lambda_handler(event, self.context())
        finally:
            _local.container = None
            self.sweeping = False
        if self.killed:  # killed after its last call: the answer never reached Lambda
            raise LambdaKilled()
        return response


def _handler_container(settings: Settings, clients: AwsClients, clock: Any) -> Any:
    """``reaper.handler.Container`` as the wiring of the day builds it: with the Cloud Control
    adapter beside the Reaper when the handler keeps one (it reads its throttle count)."""
    fields = {f.name for f in dataclasses.fields(handler.Container)}
    if "cloud_control" in fields and hasattr(wiring, "build_cloud_control"):
        cloud_control = wiring.build_cloud_control(settings, clients)
        reaper = wiring.build_reaper(settings, clients, clock=clock, cloud_control=cloud_control)
        parts: tuple[Any, ...] = (settings, reaper, cloud_control)
    else:
        parts = (settings, wiring.build_reaper(settings, clients, clock=clock))
    return handler.Container(*parts)


_local = threading.local()


def _thread_container() -> handler.Container:
    found = getattr(_local, "container", None)
    assert found is not None, "handler called outside a scenario's LambdaContainer.invoke"
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
    # The SQS path's follow-up messages come back at once (moto keeps SQS delays in wall
    # time; the runs' clock is the emulator's manual one): same hops, no waiting.
    saved_follow_up = sizing.FOLLOW_UP_FIRST_DELAY_SECONDS
    sizing.FOLLOW_UP_FIRST_DELAY_SECONDS = 0  # type: ignore[misc]
    quiet = contextlib.redirect_stdout(io.StringIO())  # Powertools metrics print per invocation
    quiet.__enter__()
    botocore.retries.standard.ExponentialBackoff.delay_amount = quick_delay  # type: ignore[method-assign]
    logger.setLevel("CRITICAL")  # thousands of decisions: the row tells what happened
    try:
        yield
    finally:
        quiet.__exit__(None, None, None)
        handler.container = saved_container
        sizing.FOLLOW_UP_FIRST_DELAY_SECONDS = saved_follow_up  # type: ignore[misc]
        botocore.retries.standard.ExponentialBackoff.delay_amount = saved_delay  # type: ignore[method-assign]
        logger.setLevel(saved_level)
