"""The account the sweep benchmarks run against: stale, healthy and finished requests.

Ages and types are chosen so the reaper's default policy (6 h, a day for long-running types
such as RDS) must tell them apart: healthy requests include an 8-hour-old RDS create.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.stack import Emulator

HOUR = 3600
CANCEL_STATUSES = frozenset({"CANCEL_IN_PROGRESS", "CANCEL_COMPLETE"})

# (share, TypeName, Operation, status, age in seconds)
STALE: tuple[tuple[float, str, str, str, float], ...] = (
    (0.7, "AWS::S3::Bucket", "CREATE", "IN_PROGRESS", 8 * HOUR),
    (0.2, "AWS::Lambda::Function", "UPDATE", "PENDING", 7 * HOUR),
    (0.1, "AWS::RDS::DBInstance", "CREATE", "IN_PROGRESS", 30 * HOUR),
)
HEALTHY: tuple[tuple[float, str, str, str, float], ...] = (
    (0.6, "AWS::S3::Bucket", "CREATE", "IN_PROGRESS", 600),
    (0.2, "AWS::SQS::Queue", "CREATE", "PENDING", 60),
    (0.2, "AWS::RDS::DBInstance", "CREATE", "IN_PROGRESS", 8 * HOUR),
)
FINISHED: tuple[tuple[float, str, str, str, float], ...] = (
    (0.5, "AWS::S3::Bucket", "CREATE", "SUCCESS", 1 * HOUR),
    (0.25, "AWS::Lambda::Function", "DELETE", "FAILED", 24 * HOUR),
    (0.25, "AWS::Logs::LogGroup", "CREATE", "CANCEL_COMPLETE", 48 * HOUR),
)


@dataclass
class Seeded:
    stale: set[str] = field(default_factory=set)
    # token -> the status it was seeded with (it must still have it afterwards)
    untouched: dict[str, str] = field(default_factory=dict)


def _split(total: int, shares: tuple[tuple[float, str, str, str, float], ...]) -> list[int]:
    counts = [int(total * share) for share, *_ in shares]
    counts[0] += total - sum(counts)
    return counts


def seed_account(emulator: Emulator, stale: int, healthy: int, finished: int) -> Seeded:
    seeded = Seeded()
    for total, groups, is_stale in (
        (stale, STALE, True),
        (healthy, HEALTHY, False),
        (finished, FINISHED, False),
    ):
        for count, (_, type_name, operation, status, age) in zip(
            _split(total, groups), groups, strict=True
        ):
            tokens = emulator.seed(
                count, type_name=type_name, operation=operation, status=status, age_seconds=age
            )
            if is_stale:
                seeded.stale.update(tokens)
            else:
                seeded.untouched.update(dict.fromkeys(tokens, status))
    return seeded


@dataclass(frozen=True)
class Check:
    stale_cancelled: int
    stale_not_cancelled: int
    wrongly_cancelled: int

    @property
    def ok(self) -> bool:
        return self.stale_not_cancelled == 0 and self.wrongly_cancelled == 0


def check_account(state: dict[str, object], seeded: Seeded) -> Check:
    """Every stale request cancelled, every other one left with the status it had."""
    requests = {r["token"]: r for r in state["requests"]}  # type: ignore[attr-defined]
    cancelled = sum(1 for t in seeded.stale if requests.get(t, {}).get("status") in CANCEL_STATUSES)
    wrong = sum(
        1
        for t, status in seeded.untouched.items()
        if requests.get(t, {}).get("status") != status or requests[t].get("cancelled_at")
    )
    return Check(cancelled, len(seeded.stale) - cancelled, wrong)
