"""The row of a scenario: what the emulator, the audit table and the queues say, after the
faults healed and the DLQ was replayed (``runner.ScenarioRun.replay``).

Definitions (docs/reliability.md, "Definitions"):

- *decided*: a token with a decision item whose outcome is not ``failed`` (any delivery).
  ``failed`` (and a decision written ahead, ``Interrupted``) is not an ending: its dead letter
  must be replayed into one. A token still only in the DLQ after the replay is *lost*.
- *lost*: a required token not decided, or a malformed body no delivery of which (its own,
  or the redrive of its dead letter) was audited as ``invalid``.
- *wrongly cancelled*: a cancel the emulator accepted of a token that was not stale, allowed
  and active (any accepted cancel under a dry run or a switch engaged before the run).
- *cancel recorded nowhere*: a token the emulator accepted a cancel for whose decisions, any
  delivery, include no ``cancelled`` or ``cancel_complete``.
- *cancelled after the kill switch*: accepted later than the reaper's kill-switch cache time
  plus the client read timeout after the switch was engaged.
- *raised*: sweeps that still raised something other than a domain error (ReaperError) after
  Lambda's retries (two), and SQS batch invocations that raised instead of reporting partial
  failures: a bug, never a dependency being down.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reaper_local.faults import scenarios as ev
from reaper_local.faults.letters import CANCEL_OUTCOMES, Letter, read_letter
from reaper_local.faults.world import scan

if TYPE_CHECKING:
    from reaper_local.faults.runner import ScenarioRun

INVALID_KEY = "(invalid)"  # docs/DESIGN.md: the audit key of input that holds no token


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
    cancel_recorded_nowhere: int
    cancelled_after_kill_switch: int
    raised: int
    injected: int
    seconds: float
    duplicate_cancel_outcomes: int = 0
    replayed_as_terminal: int = 0  # of the cancels recorded nowhere, a replay said `terminal`
    stopped_not_deferred: int = 0  # switch engaged: allowed, not cancelled, not deferred
    still_in_dlq: int = 0
    pending_in_work_queue: int = 0
    bodies_sent: int = 0
    bodies_handled: int = 0
    missing_evidence: tuple[str, ...] = ()
    lost_tokens: tuple[str, ...] = ()
    wrong_tokens: tuple[str, ...] = ()
    nowhere_tokens: tuple[str, ...] = ()
    late_tokens: tuple[str, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def failures(self) -> list[str]:
        """What this row breaks of the promises (empty: the row holds)."""
        checks = {
            "lost": self.lost,
            "wrongly cancelled": self.wrongly_cancelled,
            "cancel recorded nowhere": self.cancel_recorded_nowhere,
            "cancelled after the kill switch": self.cancelled_after_kill_switch,
            "raised": self.raised,
            "duplicate cancel outcomes": self.duplicate_cancel_outcomes,
            "cancel replayed as terminal": self.replayed_as_terminal,
            "stopped but not audited deferred_kill_switch": self.stopped_not_deferred,
            "left in the work queue": self.pending_in_work_queue,
            "bodies never handled": self.bodies_sent - self.bodies_handled,
        }
        found = [f"{name} {n}" for name, n in checks.items() if n]
        found += [f"fault never happened: {name}" for name in self.missing_evidence]
        return found


COLUMNS = (
    ("fault", 50),
    ("tokens in", 9),
    ("cancelled", 9),
    ("left alone", 10),
    ("audited", 7),
    ("dead-lettered", 13),
    ("lost", 4),
    ("wrongly cancelled", 17),
    ("cancel recorded nowhere", 23),
    ("cancelled after kill switch", 27),
    ("raised", 6),
    ("injected", 8),
    ("s", 5),
)


def format_table(rows: Sequence[Row]) -> str:
    def line(values: Sequence[Any]) -> str:
        return "  ".join(
            f"{v!s:<{w}}" if i == 0 else f"{v!s:>{w}}"
            for i, (v, (_, w)) in enumerate(zip(values, COLUMNS, strict=True))
        )

    header = line([name for name, _ in COLUMNS])
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            line(
                (
                    r.fault,
                    r.tokens_in,
                    r.cancelled,
                    r.left_alone,
                    r.audited,
                    r.dead_lettered,
                    r.lost,
                    r.wrongly_cancelled,
                    r.cancel_recorded_nowhere,
                    r.cancelled_after_kill_switch,
                    r.raised,
                    r.injected,
                    f"{r.seconds:.1f}",
                )
            )
        )
    return "\n".join(lines)


@dataclass
class _Decision:
    outcome: str
    source: str
    delivery_id: str


def _decisions(run: ScenarioRun) -> dict[str, list[_Decision]]:
    world, w = run.world, run.workload
    found: dict[str, list[_Decision]] = {}
    for item in scan(world.dynamodb, world.table):
        pk, sk = item["pk"]["S"], item["sk"]["S"]
        token = pk.removeprefix("TOKEN#")
        if sk == "SEEN":
            w.listed.add(token)
        elif pk.startswith("SIGHTINGS#"):  # a sweep's packed first sightings
            w.listed.update(item["seen"]["M"])
        elif sk.startswith("DECISION#"):
            _, source, delivery = sk.split("#", 2)
            found.setdefault(token, []).append(_Decision(item["outcome"]["S"], source, delivery))
    return found


def measure(
    run: ScenarioRun, seconds: float, dlq_after: Sequence[dict[str, Any]], pending: int
) -> Row:
    world, w, chosen = run.world, run.workload, run.scenario
    snapshot = world.backend.snapshot(include_requests=False)
    cancelled = set(snapshot.cancelled)
    raced = set(snapshot.cancel_noops) & w.finishing
    if raced:
        run.counts[ev.FOUND_FINISHED] = len(raced)
    emulator_faults = sum(snapshot.faults.values()) + snapshot.throttled
    if emulator_faults:
        run.counts[ev.EMULATOR_FAULTS] = emulator_faults
    decisions = _decisions(run)
    outcomes = {t: {d.outcome for d in ds} for t, ds in decisions.items()}
    decided = {t for t, outs in outcomes.items() if outs - {"failed"}}

    # Malformed bodies: audited as invalid under one of the message ids that carried them.
    invalid_deliveries = {d.delivery_id for d in decisions.get(INVALID_KEY, [])}
    malformed = set(w.malformed)
    accounted_bodies = {
        run.carried[mid] for mid in invalid_deliveries if run.carried.get(mid) in malformed
    }
    lost = sorted((w.required - decided) | (malformed - accounted_bodies))

    allowed = set() if chosen.dry_run or chosen.kill_switch else w.allowed
    wrong = sorted(cancelled - allowed)
    nowhere = sorted(t for t in cancelled if not outcomes.get(t, set()) & CANCEL_OUTCOMES)
    terminal_replays = {
        t
        for mid, letter in run.redriven.items()
        for t in letter.tokens
        if t in cancelled
        and (letter.claims_cancel(t) or t in nowhere)
        and any(d.outcome == "terminal" and d.delivery_id == mid for d in decisions.get(t, []))
    }
    duplicates = [
        t for t, ds in decisions.items() if sum(d.outcome in CANCEL_OUTCOMES for d in ds) > 1
    ]
    late: list[str] = []
    stopped_not_deferred = 0
    if run.watch is not None:
        late = sorted(run.watch.late(run.kill_switch_allowance))
        stopped_not_deferred = len(
            {
                t
                for t in w.allowed - cancelled
                if "deferred_kill_switch" not in outcomes.get(t, set())
            }
        )
    letters_before = [read_letter(letter.body) for letter in run.redriven.values()]
    dead = _accounted_by(letters_before)
    still = _accounted_by([read_letter(m["Body"]) for m in dlq_after])
    injected = sum(run.counts[name] for name in ev.EVIDENCE)
    missing = tuple(name for name in chosen.evidence if not _happened(run, name))
    return Row(
        fault=chosen.name,
        tokens_in=w.tokens_in,
        cancelled=len(cancelled),
        left_alone=w.tokens_in - len(cancelled),
        audited=len(set(decisions) & (w.required | w.healthy | w.terminal)),
        dead_lettered=len(dead & (w.required | malformed)),
        lost=len(lost),
        wrongly_cancelled=len(wrong),
        cancel_recorded_nowhere=len(nowhere),
        cancelled_after_kill_switch=len(late),
        raised=run.counts["raised"],
        injected=injected,
        seconds=seconds,
        duplicate_cancel_outcomes=len(duplicates),
        replayed_as_terminal=len(terminal_replays),
        stopped_not_deferred=stopped_not_deferred,
        still_in_dlq=len(still & (w.required | malformed)),
        pending_in_work_queue=pending,
        bodies_sent=len(run.sent_ids),
        bodies_handled=len(run.sent_ids & run.handled_ids),
        missing_evidence=missing,
        lost_tokens=tuple(lost[:20]),
        wrong_tokens=tuple(wrong[:20]),
        nowhere_tokens=tuple(nowhere[:20]),
        late_tokens=tuple(late[:20]),
        counts=dict(run.counts),
    )


def _happened(run: ScenarioRun, name: str) -> bool:
    if name == ev.MODE_IN_FORCE:
        config = run.world.backend.config
        return bool(run.scenario.modes) and all(
            getattr(config, k, None) == v for k, v in run.scenario.modes.items()
        )
    return run.counts[name] > 0


def _accounted_by(letters: Sequence[Letter]) -> set[str]:
    """Tokens, and for records without one the original body, that DLQ messages hold."""
    found: set[str] = set()
    for letter in letters:
        found |= letter.tokens
        if letter.record and not letter.tokens:
            found.add(letter.original)
        if not letter.record and not letter.tokens:
            found.add(letter.body)
    return found
