"""A sweep's hand-off messages are sized so that a batch of them fits one receiving
invocation: a message it cannot finish fails at its deadline and waits out the visibility
timeout (6 x the function timeout) before anyone tries it again."""

from __future__ import annotations

import pytest
from reaper.sizing import HANDOFF_BATCH, SQS_BATCH_RECORDS, deadline_margin, handoff_batch


@pytest.mark.parametrize(
    ("calls_per_second", "timeout", "per_token", "expected"),
    [
        (12.5, 60, 2, 25),  # the real quota 25/s over 2 slots, a 60 s timeout, a read each
        (12.5, 60, 1, 51),  # the same, the sweep's readings kept: a cancel each
        (5.0, 300, 2, 56),  # the defaults: 10/s over 2 slots, 300 s
        (100.0, 900, 1, HANDOFF_BATCH),  # capped
        (0.5, 10, 2, 1),  # at least one
    ],
)
def test_a_batch_of_hand_off_messages_fits_one_invocation(
    calls_per_second, timeout, per_token, expected
):
    size = handoff_batch(calls_per_second, timeout, per_token)
    assert size == expected
    if size < HANDOFF_BATCH and size > 1:
        # a full batch of such messages needs no more than the receiver's working time
        calls = size * SQS_BATCH_RECORDS * per_token
        assert calls / calls_per_second <= timeout - deadline_margin(timeout)
