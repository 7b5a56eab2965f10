"""Runs one scenario: seed, feed the work queue and sweep under the faults, heal, replay the
DLQ as an operator's redrive would, run the reconciling sweep, and measure (``accounting``).

Lambda is played faithfully where it matters: SQS batches of ten, failed records visible
again at once (SQS counts receives and redrives at ``maxReceiveCount``); a sweep is an async
invocation that Lambda retries twice (after 1 and 2 minutes) when it raises or times out,
then hands to its on-failure destination (the DLQ); a batch invocation that raises returns
its whole batch to the queue.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from typing import Any

from reaper import contracts
from reaper.config import ReaperConfig
from reaper.errors import ReaperError

from reaper_local.faults import scenarios as ev
from reaper_local.faults.accounting import Row, measure
from reaper_local.faults.container import (
    READ_TIMEOUT_SECONDS,
    LambdaContainer,
    LambdaKilled,
    patched_runtime,
)
from reaper_local.faults.killswitch import KillSwitchWatch, kill_switch_cache_seconds
from reaper_local.faults.letters import Letter, original_body, read_letter
from reaper_local.faults.scenarios import Faults, Scenario
from reaper_local.faults.workload import Workload, seed_finishing, seed_workload
from reaper_local.faults.world import (
    MAX_RECEIVE_COUNT,
    World,
    drain,
    on_failure_record,
    schedule_event,
    sqs_record,
)

SWEEP_PERIOD_SECONDS = 15 * 60  # the stack's default schedule
ASYNC_RETRY_DELAYS = (60, 120)  # Lambda's two retries of an async invocation
DRAIN_ROUNDS = 2_000
# What one follow-up hop stands for on the manual clock (sizing.FOLLOW_UP_FIRST_DELAY_SECONDS).
FOLLOW_UP_HOP_SECONDS = 5


class ScenarioRun:
    """One scenario against a World; ``counts`` holds the evidence of what really happened."""

    def __init__(self, world: World, chosen: Scenario, size: int) -> None:
        self.world, self.scenario, self.size = world, chosen, size
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.faulty = chosen.injects
        self._random = random.Random(11)  # noqa: S311 - test dice, not secrets
        self._latency_on = False
        self._sqs_invocations = 0
        self._sweeps = 0
        self.sweeping = 0  # sweep invocations running now
        self.workload = Workload()
        self.config: ReaperConfig | None = None
        self.watch: KillSwitchWatch | None = None
        self.kill_switch_allowance = kill_switch_cache_seconds() + READ_TIMEOUT_SECONDS
        self.sent_ids: set[str] = set()  # message ids of the workload's own bodies
        self.handled_ids: set[str] = set()  # message ids the handler was given
        self.carried: dict[str, str] = {}  # message id -> the workload body it stands for
        self.redriven: dict[str, Letter] = {}  # message id of a redriven DLQ body -> letter

    def count(self, name: str, n: int = 1) -> None:
        with self.lock:
            self.counts[name] += n

    def roll(self) -> float:
        with self.lock:
            return self._random.random()

    # faults the hooks apply ----------------------------------------------------
    def set_cancel_latency(self, on: bool) -> None:
        latency = self.scenario.faults.cancel_latency_ms
        if not latency or not self.faulty:
            return
        with self.lock:
            if on != self._latency_on:
                self._latency_on = on
                self.world.backend.configure(latency_ms=latency if on else 0.0)

    def maybe_finish_race(self, token: str) -> None:
        """The first cancel of a finishing request moves the clock past its end."""
        finish_at = self.workload.finish_at
        if finish_at is None or token not in self.workload.finishing:
            return
        clock = self.world.backend.clock
        with self.lock:
            if clock.now() <= finish_at:
                clock.advance(finish_at + 1 - clock.now())

    def heal(self) -> None:
        """Faults end; emulator knobs go back to what they were before the run (modes stay)."""
        if not self.faulty:
            return
        self.faulty = False
        knobs = set(self.scenario.faults.emulator)
        if self.scenario.faults.cancel_latency_ms:
            knobs.add("latency_ms")
        if knobs:
            self.world.backend.configure(**{k: getattr(self._initial, k) for k in knobs})

    # the run -----------------------------------------------------------------
    def execute(self) -> Row:
        started = time.monotonic()
        world, chosen, faults = self.world, self.scenario, self.scenario.faults
        backend = world.backend
        self._initial = backend.config
        self.workload = seed_workload(backend, self.size)
        rate = 1000.0
        if chosen.cancel_seconds:
            rate = max(5.0, len(self.workload.allowed) / chosen.cancel_seconds)
        self.config = ReaperConfig(
            dry_run=chosen.dry_run,
            calls_per_second=rate,
            max_concurrency=1,
            max_cancellations_per_run=500,
            exclude_types=("AWS::IAM::*",),
            max_receive_count=MAX_RECEIVE_COUNT,
        )
        if chosen.modes:
            backend.configure(**chosen.modes)
        if chosen.switch_engaged:
            self.watch = KillSwitchWatch(self, faults.kill_switch_after_cancels)
            if chosen.kill_switch:
                self.watch.engage()
            self.watch.start()
        if faults.emulator:
            backend.configure(**faults.emulator)
        try:
            with patched_runtime():
                self.container = LambdaContainer(self)
                self._feed()
                self.heal()
                self._drain()
                # The next scheduled sweep, and the one after it when a sweep died (its claims
                # expire after CLAIM_TTL, 16 minutes), each followed by the queue's deliveries.
                for _ in range(2 if faults.kill_sweep_after_cancels else 1):
                    self._next_sweep()
                self.replay()
        finally:
            if self.watch is not None:
                self.watch.stop()
        dlq_after = drain(world.sqs, world.dlq_url)
        pending = len(drain(world.sqs, world.work_url))
        return measure(self, time.monotonic() - started, dlq_after, pending)

    def replay(self) -> None:
        """An operator's redrive: every DLQ body back to the work queue as is; the handler
        drains it; then one more scheduled sweep (it reconciles decisions written ahead of a
        cancel that never got their outcome) and its deliveries."""
        letters = [read_letter(m["Body"]) for m in drain(self.world.sqs, self.world.dlq_url)]
        ids = self.world.send(self.world.work_url, [letter.body for letter in letters])
        for mid, letter in zip(ids, letters, strict=True):
            self.redriven[mid] = letter
            self.carried[mid] = original_body(letter)
        self._drain()
        self._next_sweep()

    def _feed(self) -> None:
        bodies = self.workload.bodies
        third = len(bodies) // 3
        for i in range(0, len(bodies), 10):
            if i // 10 == third // 10:
                if self.scenario.faults.finishing_race:
                    seed_finishing(self.world.backend, self.workload, max(1, self.size // 20))
                self._sweep()
            chunk = bodies[i : i + 10]
            ids = self.world.send(self.world.work_url, chunk)
            self.sent_ids.update(ids)
            self.carried.update(zip(ids, chunk, strict=True))
            self._poll()

    def _next_sweep(self) -> None:
        self.world.backend.clock.advance(SWEEP_PERIOD_SECONDS)
        self._sweep()
        self._drain()

    def _faults_now(self) -> Faults:
        return self.scenario.faults if self.faulty else Faults()

    def _fresh_container_if_killed(self) -> None:
        if self.container.killed:
            self.container = LambdaContainer(self)

    # SQS ---------------------------------------------------------------------
    def _invoke_records(self, records: list[dict[str, Any]]) -> set[str] | None:
        """Invoke with a batch; the message ids that failed, or None for the whole batch."""
        faults = self._faults_now()
        failed: set[str] = set()
        for attempt in range(2 if faults.deliver_twice else 1):
            try:
                response = self.container.invoke(
                    {"Records": records},
                    kill_after=faults.kill_batch_after_cancels,
                    deadline_after=faults.deadline_batch_after_cancels,
                    sweep=False,
                )
            except LambdaKilled:
                self.count(ev.KILLED)
                self._fresh_container_if_killed()
                return None
            except Exception as exc:
                self.count("raised")
                self.count(f"batch raised {type(exc).__name__}")
                return None
            if attempt == 1:
                self.count(ev.RECEIVED_TWICE)
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
        if any(contracts.FOLLOW_UP_KIND in m["Body"] for m in received):
            # A follow-up comes back at once here (patched_runtime): the manual clock moves
            # on by the hop it stands for, as the real queue's delay would have.
            world.backend.clock.advance(FOLLOW_UP_HOP_SECONDS)
        self.handled_ids.update(m["MessageId"] for m in received)
        failed = self._invoke_records([sqs_record(m) for m in received])
        self._sqs_invocations += 1
        self._heal_when_window_closes()
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

    def _drain(self) -> None:
        for _ in range(DRAIN_ROUNDS):
            if not self._poll():
                return

    def _heal_when_window_closes(self) -> None:
        window = self.scenario.faults.window
        if window is not None and self._sweeps and self._sqs_invocations >= window:
            self.heal()

    # sweeps ------------------------------------------------------------------
    def _sweep(self) -> None:
        faults = self._faults_now()
        event = schedule_event()
        if self.watch is not None:
            self.watch.sweep_started()
        if faults.concurrent_sweeps:
            spans: list[tuple[float, float]] = []
            threads = [
                threading.Thread(target=self._async_invoke, args=(event, faults, c, spans))
                for c in (self.container, LambdaContainer(self))
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if len(spans) == 2 and max(s for s, _ in spans) < min(e for _, e in spans):
                self.count(ev.SWEEPS_OVERLAPPED)
        else:
            self._async_invoke(event, faults, self.container, [])
        self._fresh_container_if_killed()
        self._sweeps += 1
        self._heal_when_window_closes()

    def _async_invoke(
        self, event: dict[str, Any], faults: Faults, container: LambdaContainer, spans: list[Any]
    ) -> None:
        """Lambda's async invocation: two retries, then the on-failure destination."""
        error: BaseException | None = None
        for attempt in range(1 + len(ASYNC_RETRY_DELAYS)):
            if attempt:
                self.world.backend.clock.advance(ASYNC_RETRY_DELAYS[attempt - 1])
                container = LambdaContainer(self) if container.killed else container
            started = time.monotonic()
            with self.lock:
                self.sweeping += 1
            try:
                container.invoke(
                    event,
                    kill_after=faults.kill_sweep_after_cancels,
                    deadline_after=faults.deadline_sweep_after_cancels,
                    sweep=True,
                )
                return
            except LambdaKilled:
                self.count(ev.KILLED)
                error = None
            except Exception as exc:
                self.count(f"sweep attempt raised {type(exc).__name__}")
                error = exc
            finally:
                with self.lock:
                    self.sweeping -= 1
                if attempt == 0:
                    spans.append((started, time.monotonic()))
        self.count("sweep retries exhausted")
        # A sweep raises a domain error (Cloud Control, the table or the DLQ unreachable
        # after botocore's retries) on purpose, so Lambda retries it and its on-failure
        # destination keeps it; the next sweep lists what it could not. Anything else is a
        # bug: it counts as raised.
        if error is not None and not isinstance(error, ReaperError):
            self.count("raised")
        record = on_failure_record(event, error, 1 + len(ASYNC_RETRY_DELAYS))
        self.world.send(self.world.dlq_url, [record])
