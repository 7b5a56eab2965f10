"""The demo's checks: each fact the report states, expected (from the scenario, written before
the reaper ran) against what the account says afterwards. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ccapi_emulator import Snapshot
from reaper.models import Decision, Outcome, Source

from reaper_local.demo_readouts import CANCELS, cancel_events, kinds
from reaper_local.demo_scenario import CAP, DEPLOYER_ARN, MALFORMED_BODY, Planned
from reaper_local.demo_unblock import Unblocking

HOOK_WAIT = "hooksInProgress wait"
NOTHING = "(nothing audited)"


@dataclass(frozen=True)
class ReadBack:
    """What the account says after the run: audit items, queues, Cloud Control's state."""

    decisions: dict[str, list[Decision]]  # by planned request name
    invalid: list[Decision]
    forgotten: list[Decision]
    letters: list[dict[str, Any]]
    delayed: int
    snapshot: Snapshot
    # The reaper's events, as the test rule's queue received them.
    told: list[dict[str, Any]] = field(default_factory=list)
    unblocking: Unblocking = field(default_factory=Unblocking)


@dataclass(frozen=True)
class Check:
    what: str
    expected: str
    actual: str

    @property
    def ok(self) -> bool:
        return self.expected == self.actual


def pairs(decisions: list[Decision]) -> str:
    """``source:outcome`` of each decision, sorted: what the checks compare."""
    return ", ".join(sorted(f"{d.source.value}:{d.outcome.value}" for d in decisions)) or NOTHING


def checks(planned: list[Planned], back: ReadBack, sweep_result: dict[str, Any]) -> list[Check]:
    found = requests_checks(planned, back)
    found += queue_checks(back)
    stale = sum(1 for p in planned if any(s is Source.SWEEP for s, _ in p.expected))
    found.append(
        Check(
            f"sweep: stale requests decided (cap {CAP})",
            str(stale),
            str(sweep_result.get("decided")),
        )
    )
    found += feature_checks(planned, back)
    return found


def requests_checks(planned: list[Planned], back: ReadBack) -> list[Check]:
    found: list[Check] = []
    for p in planned:
        expected = ", ".join(sorted(f"{s.value}:{o.value}" for s, o in p.expected)) or NOTHING
        found.append(Check(f"audit of {p.name}", expected, pairs(back.decisions[p.name])))
        request = back.snapshot.requests.get(p.token)
        status = request.status if request else "gone"
        found.append(Check(f"Cloud Control status of {p.name}", p.final_status, status))
    found.append(Check("audit of the forgotten token", "sqs:not_found", pairs(back.forgotten)))
    found.append(Check("audit of the malformed message", "sqs:invalid", pairs(back.invalid)))
    expected_cancelled = sorted(p.token for p in planned if p.cancelled)
    found.append(
        Check(
            "requests Cloud Control cancelled (tokens)",
            ", ".join(t[:8] for t in expected_cancelled),
            ", ".join(t[:8] for t in sorted(back.snapshot.cancelled)),
        )
    )
    return found


def queue_checks(back: ReadBack) -> list[Check]:
    return [
        Check(
            "dead letters",
            "InvalidToken (original kept)",
            ", ".join(
                f"{letter['error']['code']}"
                + (" (original kept)" if letter["original"] == MALFORMED_BODY else "")
                for letter in back.letters
            ),
        ),
        Check("re-checks waiting in the work queue", "1", str(back.delayed)),
    ]


def feature_checks(planned: list[Planned], back: ReadBack) -> list[Check]:
    """The blocked deployment, the leftovers, the hook, the events."""
    found: list[Check] = []
    unblocking = back.unblocking
    found.append(
        Check(
            "deployment's UpdateResource before the reaper",
            "ConcurrentOperationException",
            unblocking.refused_code or "accepted",
        )
    )
    for p in planned:
        if p.operation == "UPDATE" and p.lifecycle is not None:  # the blocking request
            blocked = next((d.blocked_call for d in back.decisions[p.name] if d.blocked_call), "")
            found.append(
                Check(
                    f"blocked_call of {p.name} names the refused call and its caller",
                    f"UpdateResource by {DEPLOYER_ARN}",
                    (blocked or "-").split(" at ")[0],
                )
            )
    found.append(Check("deployment's UpdateResource, retried", "SUCCESS", unblocking.retry_status))
    for p in planned:
        if p.leftover is not None:
            seen = [d.leftover or "-" for d in back.decisions[p.name] if d.outcome in CANCELS]
            found.append(Check(f"leftover after cancelling {p.name}", p.leftover, ", ".join(seen)))
        if any(o is Outcome.NOT_STALE and s is Source.SWEEP for s, o in p.expected):
            why = next((d.why or "" for d in back.decisions[p.name]), "")
            found.append(
                Check(
                    f"why the sweep left {p.name} alone",
                    f"hook HOOK_IN_PROGRESS ({HOOK_WAIT})",
                    f"{why.split(':')[0]} ({HOOK_WAIT})" if HOOK_WAIT in why else why,
                )
            )
    audited = sorted(d.token for ds in back.decisions.values() for d in ds if d.outcome in CANCELS)
    found.append(
        Check(
            "events received: one Resource Request Cancelled per cancel audited",
            ", ".join(t[:8] for t in audited),
            ", ".join(t[:8] for t in cancel_events(back.told)),
        )
    )
    found.append(
        Check(
            "events received by the test rule, by detail-type",
            f"Resource Request Cancelled: {len(audited)}",
            kinds(back.told),
        )
    )
    return found
