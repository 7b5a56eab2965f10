"""How fast and how much: every number that sizes the reaper's work, in one place.

A reader looking for "how fast", "how many at once" or "how long" finds it here; the modules
that use a number import it from here and nowhere else.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Final

# ---------------------------------------------------------------- concurrency and rate
# Concurrent cancel workers in a sweep, sized from the rate by Little's law: calls in flight
# = calls per second x seconds a call holds a worker (Cloud Control's answer, the claim and a
# share of the audit writes: ~0.25 s allowed). The shared token bucket, not this, sets the rate.
SECONDS_PER_CALL: Final = 0.25
MIN_WORKERS: Final = 4
MAX_WORKERS: Final = 64
# A sweep worker claims, writes ahead and cancels a chunk of requests at a time (one audit
# batch write for all of them): at most 25 (one BatchWriteItem), and what its share of the
# rate cancels in 4 s or a third of the deadline margin, so a chunk started just before the
# margin ends well inside it.
CHUNK_SECONDS: Final = 4.0
CHUNK_MAX: Final = 25
# BatchWriteItem calls in flight for one large audit write (a sweep's decisions), and
# PutEvents calls in flight for its events.
AUDIT_WRITERS: Final = 8
EVENT_WRITERS: Final = 8
# After a PutEvents call fails outright, events are not tried again for this long (they are
# best effort: an unreachable bus must not cost a sweep its time).
EVENT_BUS_PAUSE_SECONDS: Final = 60.0

# ---------------------------------------------------------------- time
# Lambda keeps this share of an invocation (within bounds) to follow, hand off and record.
DEADLINE_MARGIN_FRACTION: Final = 0.15
DEADLINE_MARGIN_MIN_SECONDS: Final = 3.0
DEADLINE_MARGIN_MAX_SECONDS: Final = 20.0
# The kill switch is read again at most this often (and always before a cancel call once the
# cached read is older): engaging it stops every cancel of a running sweep within this time.
KILL_SWITCH_CACHE_SECONDS: Final = 5.0
# Following cancels to CANCEL_COMPLETE: a poll every so often, a Get each when few.
FOLLOW_POLL_SECONDS: Final = 2.0
FOLLOW_BY_GET_MAX: Final = 5
# A followed cancel that no listing shows complete is read with a Get, up to this many a follow.
FOLLOW_CONFIRM_GETS_MAX: Final = 100
# SQS caps DelaySeconds at 15 minutes: a watch re-check hops at most this far ahead.
MAX_WATCH_DELAY_SECONDS: Final = 900
# Lambda's longest invocation: a claim never outlives it, and a decision written ahead of a
# cancel and still unreplaced after it (plus a minute) has no live invocation behind it.
LONGEST_INVOCATION: Final = timedelta(minutes=15)
RECONCILE_AFTER: Final = LONGEST_INVOCATION + timedelta(minutes=1)
# Write-aheads a sweep reconciles at most (read from the index), and of those, how many it
# may read with a Get (the others are settled from the cancel listings, or decide themselves).
RECONCILE_SCAN: Final = 5000
RECONCILE_GETS: Final = 100

# ---------------------------------------------------------------- message sizes
HANDOFF_BATCH: Final = 100
DEAD_LETTER_BATCH: Final = 100
# A letter that carries decisions carries fewer, so it always fits an SQS body (256 KiB).
CARRIED_DECISIONS_BATCH: Final = 25
ORIGINAL_MAX_CHARS: Final = 200 * 1024

# ---------------------------------------------------------------- clients
CONNECT_TIMEOUT_SECONDS: Final = 3
READ_TIMEOUT_SECONDS: Final = 10
# botocore's standard mode retries throttling, 5xx (ConcurrentModificationException is a
# 500) and timeouts with jittered backoff; every attempt still waits for the token bucket.
MAX_ATTEMPTS: Final = 5  # in all, the first attempt included


def workers_for(calls_per_second: float) -> int:
    """4 at the default 5 calls/s per invocation, 7 at 25/s, 50 at 200/s, at most 64."""
    return max(MIN_WORKERS, min(MAX_WORKERS, math.ceil(calls_per_second * SECONDS_PER_CALL)))


def chunk_for(calls_per_second: float, workers: int, margin_seconds: float) -> int:
    """Requests one worker claims, writes ahead and cancels together."""
    seconds = min(CHUNK_SECONDS, margin_seconds / 3 or CHUNK_SECONDS)
    return max(1, min(CHUNK_MAX, round(calls_per_second / workers * seconds)))


# Lambda's SQS batch (infra/constants.py SQS_BATCH_SIZE): what one invocation receives at once.
SQS_BATCH_RECORDS: Final = 10
# A handed-off token costs its receiver a cancel when the sweep's reading of it is kept
# (reaper.handoff), else a status read and a cancel.
HANDOFF_READ_CALLS_PER_TOKEN: Final = 1
HANDOFF_CALLS_PER_TOKEN: Final = 2
# Of an invocation's working time, the share a hand-off's receiver plans to use.
HANDOFF_TIME_SHARE: Final = 0.8
# Of a sweep's time left after listing, the share it plans to cancel in itself (a cancel a
# call at its rate); what is beyond it is handed off at once.
OWN_TIME_SHARE: Final = 0.9


def handoff_batch(calls_per_second: float, invocation_seconds: float, calls_per_token: int) -> int:
    """Tokens per hand-off message, so that a batch of them fits one receiving invocation
    (same function, same timeout, same rate): a message it cannot finish fails at its
    deadline and waits out the queue's visibility timeout (6 x the timeout) before anyone
    tries it again. At most HANDOFF_BATCH, at least 1."""
    working = invocation_seconds - deadline_margin(invocation_seconds)
    tokens = calls_per_second * working * HANDOFF_TIME_SHARE / calls_per_token
    return max(1, min(HANDOFF_BATCH, int(tokens / SQS_BATCH_RECORDS)))


def deadline_margin(remaining_seconds: float) -> float:
    return min(
        DEADLINE_MARGIN_MAX_SECONDS,
        max(DEADLINE_MARGIN_MIN_SECONDS, remaining_seconds * DEADLINE_MARGIN_FRACTION),
    )


# ---------------------------------------------------------------- the SQS path's follow-ups
# After an SQS-path cancel, a delayed work-queue message reads the request once instead of a
# wait in Lambda: first after this many seconds, then twice as long each hop (at most
# MAX_WATCH_DELAY_SECONDS), until cancel_follow_seconds after the cancel.
FOLLOW_UP_FIRST_DELAY_SECONDS: Final = 5


def follow_up_delay(hop: int, seconds_left: float) -> int:
    """The delay of follow-up ``hop`` (0 the first), never past the follow's end."""
    doubled = FOLLOW_UP_FIRST_DELAY_SECONDS * 2 ** min(hop, 10)
    floor = 1 if FOLLOW_UP_FIRST_DELAY_SECONDS > 0 else 0  # 0: the fault matrix's runs
    return int(max(floor, min(MAX_WATCH_DELAY_SECONDS, doubled, math.ceil(seconds_left))))
