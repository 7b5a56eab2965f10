"""What the demo reads besides the audit table: the reaper's events, as a rule of the account's
own would receive them, and the resources its cancels left behind (what ``cc-reaper leftovers``
shows, computed here without importing the CLI).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from botocore.exceptions import ClientError
from reaper import contracts
from reaper.models import Decision, Outcome
from rich.table import Table

TAP_NAME = "demo-reaper-events"
TAP_PATTERN = {
    "source": [contracts.REAPER_EVENT_SOURCE],
    "detail-type": list(contracts.REAPER_DETAIL_TYPES),
}
CANCELS = (Outcome.CANCELLED, Outcome.CANCEL_COMPLETE)


class EventTap:
    """A rule on the default bus matching the reaper's events, targeting a queue of its own:
    what a user's rule (a chat channel, a ticket system) would receive."""

    def __init__(self, events: Any, sqs: Any) -> None:
        self._events = events
        self._sqs = sqs
        self.queue_url = ""

    def install(self) -> str:
        self.queue_url = self._sqs.create_queue(QueueName=TAP_NAME)["QueueUrl"]
        arn = self._sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
        self._events.put_rule(Name=TAP_NAME, EventPattern=json.dumps(TAP_PATTERN), State="ENABLED")
        self._events.put_targets(
            Rule=TAP_NAME, Targets=[{"Id": "queue", "Arn": arn["Attributes"]["QueueArn"]}]
        )
        return json.dumps(TAP_PATTERN)

    def drain(self) -> list[dict[str, Any]]:
        """Every event the queue received, in order, each once."""
        received: list[dict[str, Any]] = []
        while True:
            messages = self._sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not messages:
                return received
            for message in messages:
                received.append(json.loads(message["Body"]))
                self._sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )


def events_table(received: list[dict[str, Any]], names: dict[str, str]) -> Table:
    table = Table(
        title=f"Events received by a test rule on the default bus ({TAP_NAME})",
        title_justify="left",
    )
    for column in ("detail-type", "request", "token", "outcome", "leftover", "startedBy"):
        table.add_column(column, overflow="fold")
    for event in received:
        detail = event.get("detail", {})
        token = str(detail.get("requestToken", ""))
        table.add_row(
            str(event.get("detail-type")),
            names.get(token, "-"),
            token[:8],
            str(detail.get("outcome", "-")),
            str(detail.get("leftover", "-")),
            str(detail.get("startedBy", "-")),
        )
    return table


def cancel_events(received: list[dict[str, Any]]) -> list[str]:
    """Tokens of the "Resource Request Cancelled" events received, sorted."""
    return sorted(
        str(e.get("detail", {}).get("requestToken"))
        for e in received
        if e.get("detail-type") == contracts.DETAIL_TYPE_CANCELLED
    )


def kinds(received: list[dict[str, Any]]) -> str:
    counts = Counter(str(e.get("detail-type")) for e in received)
    return ", ".join(f"{kind}: {n}" for kind, n in sorted(counts.items()))


# ---------------------------------------------------------------------- leftovers
def cancelled_resources(decisions: list[Decision]) -> list[Decision]:
    """Completed cancels of a CREATE or UPDATE with a known resource, as the CLI picks them."""
    found = [
        d
        for d in decisions
        if d.outcome is Outcome.CANCEL_COMPLETE
        and d.operation in ("CREATE", "UPDATE")
        and d.type_name
        and d.identifier
    ]
    return sorted(found, key=lambda d: d.decided_at)


def exists_now(cloudcontrol: Any, type_name: str, identifier: str) -> str:
    """GetResource, existence only (the properties are dropped unread)."""
    try:
        cloudcontrol.get_resource(TypeName=type_name, Identifier=identifier)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
        return "gone" if code == "ResourceNotFoundException" else f"unknown ({code})"
    return "exists"


def leftovers_table(decisions: list[Decision], cloudcontrol: Any) -> tuple[Table, str]:
    """The table and summary line ``cc-reaper leftovers`` prints for these decisions."""
    table = Table(
        title="Leftovers: what `cc-reaper leftovers` would show (cancelled creates and updates)",
        title_justify="left",
    )
    for column in ("cancelled at (UTC)", "type", "identifier", "op", "resource"):
        table.add_column(column, no_wrap=True)
    for column in ("function's check", "started by"):
        table.add_column(column, overflow="fold")
    counts: Counter[str] = Counter()
    for d in cancelled_resources(decisions):
        state = exists_now(cloudcontrol, d.type_name or "", d.identifier or "")
        counts[state.split(" ")[0]] += 1
        table.add_row(
            d.decided_at.strftime("%Y-%m-%d %H:%M:%S"),
            d.type_name or "-",
            d.identifier or "-",
            d.operation or "-",
            state,
            d.leftover or "-",
            d.started_by or "-",
            style={"exists": "yellow", "gone": "green"}.get(state, "red"),
        )
    total = sum(counts.values())
    summary = (
        f"  {total} cancelled request(s): {counts['exists']} resource(s) exist, "
        f"{counts['gone']} gone, {counts['unknown']} unknown."
    )
    return table, summary
