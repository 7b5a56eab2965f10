"""A decision in words: one line a human reads, from the audited fields only.

Pure domain text, so every reader of the audit says the same thing: the CLI's tables and the
local demo's report both use it (neither imports the other). The function itself never does.
"""

from __future__ import annotations

from reaper.models import Decision, Outcome


def duration(seconds: int | float | None) -> str:
    """Short and sortable by eye: ``45m10s``, ``7h05m``, ``3d02h``; ``?`` when unknown."""
    if seconds is None:
        return "?"
    hours, rest = divmod(int(seconds), 3600)
    if hours >= 48:
        return f"{hours // 24}d{hours % 24:02d}h"
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def why(d: Decision) -> str:
    """One line a human reads, from the audited fields only."""
    age = duration(d.age_seconds)
    threshold = duration(d.threshold_minutes * 60 if d.threshold_minutes else None)
    reason = f"; reason: {d.reason}" if d.reason else ""
    if d.outcome in (Outcome.CANCELLED, Outcome.CANCEL_COMPLETE):
        after = d.status_after.value if d.status_after else "?"
        text = f"{d.status_seen} for {age} ≥ threshold {threshold} → {after}"
    elif d.outcome is Outcome.DRY_RUN:
        text = f"{d.status_seen} for {age} ≥ threshold {threshold}: would cancel (dry run)"
    elif d.outcome is Outcome.DEFERRED_CAP:
        text = f"stale ({age} ≥ {threshold}) but the run's cap of cancellations was used up"
    elif d.outcome is Outcome.DEFERRED_KILL_SWITCH:
        text = f"stale ({age} ≥ {threshold}) but the kill switch is engaged"
    elif d.outcome is Outcome.NOT_STALE:
        text = d.why or f"{age} old, under its threshold {threshold}"
    elif d.outcome is Outcome.WATCHING:
        text = f"{age} old, threshold {threshold}: re-check queued on the work queue"
    elif d.outcome is Outcome.BLOCKING:
        text = f"blocks {d.blocked_call or 'a deployment'}; {age} old, threshold {threshold}"
    elif d.outcome is Outcome.UNMATCHED:
        text = d.why or "a CloudTrail record matched no active request"
    elif d.outcome is Outcome.FILTERED:
        text = d.why or f"{d.type_name} is excluded by config (include_types/exclude_types)"
    elif d.outcome is Outcome.TERMINAL:
        text = f"already {d.status_after or d.status_seen}: nothing to cancel"
    elif d.outcome is Outcome.FAILED and d.error_code == "CancelUnconfirmed":
        text = f"cancel sent, answer lost ({d.error_message}); the next reader records it"
    elif d.outcome is Outcome.NOT_FOUND:
        text = "Cloud Control does not know it (never existed, or older than 7 days)"
    else:
        text = f"{d.error_code}: {d.error_message}"
    return text + reason
