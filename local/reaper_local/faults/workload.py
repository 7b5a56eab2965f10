"""The workload of a fault scenario: about ``size`` tokens of every kind the reaper meets.

Seeded in 5 % units (docs/reliability.md, "The workload"); a sixth of the tokens also arrive
through the work queue, in the three body shapes, with duplicates and malformed bodies.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from ccapi_emulator import Lifecycle

# The dead-letter record's kind is a documented contract (docs/DESIGN.md), not product logic.
DEAD_LETTER_KIND = "reaper.dead-letter"
HOURS = 3600
STALE_TYPE = "AWS::S3::Bucket"
LONG_RUNNING_TYPE = "AWS::RDS::DBInstance"  # a default rule gives it 24 h
EXCLUDED_TYPE = "AWS::IAM::Role"


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
    rng = random.Random(seed)  # noqa: S311 - a reproducible workload, not secrets
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
