"""The demo's blocked deployment: a stuck request holds a resource, a deployment's
UpdateResource on it is refused with ConcurrentOperationException, CloudTrail's record of the
refused call reaches the reaper (the stack's ConflictRule), the blocking request is cancelled,
and the deployment's retry goes through.

In AWS, CloudTrail delivers the record; here the demo builds it with the emulator's
``refused_call_event`` (AWS's documented shape) and puts it on moto's default bus.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from ccapi_emulator import EmulatorServer, Lifecycle
from ccapi_emulator.cloudtrail import refused_call_event
from reaper.explain import duration
from reaper.models import Decision
from rich.console import Console
from rich.markup import escape

from reaper_local.demo_scenario import DEPLOYER_AGENT, DEPLOYER_ARN, Planned

PATCH = json.dumps([{"op": "add", "path": "/Description", "value": "orders-api v2"}])
# The retried update plays a healthy one: the emulator's lifecycle for new requests of the type.
RETRY_LIFECYCLE = Lifecycle.succeed(1)
RETRY_WAIT_SECONDS = 10.0


@dataclass
class Unblocking:
    """What the deployment saw: its refused call, then its retry."""

    refused_code: str = ""
    refused_message: str = ""
    retry_token: str = ""
    retry_status: str = "not retried"


class BlockedDeployment:
    def __init__(self, console: Console, cloudcontrol: Any, server: EmulatorServer) -> None:
        self._console = console
        self._cc = cloudcontrol
        self._server = server
        self.result = Unblocking()

    def refused_record(self, blocker: Planned) -> dict[str, Any]:
        """The deployment's UpdateResource, refused; the CloudTrail event of that call."""
        try:
            self._update(blocker)
        except ClientError as exc:
            error = exc.response["Error"]
            self.result.refused_code = error.get("Code", "")
            self.result.refused_message = error.get("Message", "")
        else:
            raise RuntimeError(f"UpdateResource on {blocker.identifier} was not refused")
        self._console.print(
            f"  {DEPLOYER_AGENT} ({DEPLOYER_ARN}) calls UpdateResource on "
            f"{blocker.type_name} {blocker.identifier}:\n"
            f"  [red]{escape(self.result.refused_code)}[/]: {escape(self.result.refused_message)}"
        )
        self._console.print(
            "  CloudTrail records the refused call (errorCode "
            f"{self.result.refused_code}); the demo puts that record on the default bus"
        )
        now = self._server.backend.clock.now()
        return refused_call_event(
            "UpdateResource",
            blocker.type_name,
            blocker.identifier,
            self.result.refused_message,
            DEPLOYER_ARN,
            DEPLOYER_AGENT,
            now,
        )

    def retry(self, blocker: Planned) -> None:
        """The deployment tries again once the blocker is over (as a deployment tool backs
        off and retries: the reaper's cancel was accepted, not waited for), is accepted now,
        and is followed to its end."""
        self._await_final(blocker.token)
        self._server.backend.set_lifecycle(blocker.type_name, RETRY_LIFECYCLE)
        event = self._update(blocker)
        self.result.retry_token = event["RequestToken"]
        status = event["OperationStatus"]
        deadline = time.monotonic() + RETRY_WAIT_SECONDS
        while status in ("PENDING", "IN_PROGRESS") and time.monotonic() < deadline:
            time.sleep(0.2)
            status = self._cc.get_resource_request_status(RequestToken=event["RequestToken"])[
                "ProgressEvent"
            ]["OperationStatus"]
        self.result.retry_status = status
        self._console.print(
            f"  the deployment retries UpdateResource: accepted "
            f"({self.result.retry_token[:8]}), then {status}"
        )

    def _await_final(self, token: str) -> str:
        deadline = time.monotonic() + RETRY_WAIT_SECONDS
        while True:
            status: str = self._cc.get_resource_request_status(RequestToken=token)["ProgressEvent"][
                "OperationStatus"
            ]
            if status not in ("PENDING", "IN_PROGRESS", "CANCEL_IN_PROGRESS"):
                return status
            if time.monotonic() > deadline:
                return status
            time.sleep(0.2)

    def _update(self, blocker: Planned) -> dict[str, Any]:
        event: dict[str, Any] = self._cc.update_resource(
            TypeName=blocker.type_name, Identifier=blocker.identifier, PatchDocument=PATCH
        )["ProgressEvent"]
        return event


def story(blocker: Planned, decision: Decision | None, result: Unblocking) -> list[str]:
    """The blocked deployment in a few lines, from the audit and what the deployment saw."""
    age = duration(decision.age_seconds) if decision else "?"
    lines = [
        f"{blocker.operation} {blocker.token[:8]} on {blocker.type_name} {blocker.identifier}: "
        f"{decision.status_seen if decision else '?'} for {age}, under the sweep's threshold",
        f"the deployment's UpdateResource → {result.refused_code or 'not refused'}",
    ]
    if decision is None:
        lines.append("the reaper recorded nothing about the blocking request")
    else:
        lines += [
            f"ConflictRule → work queue → function: {decision.outcome.value} "
            f"({decision.status_seen} → {decision.status_after}), "
            f"threshold {decision.threshold_minutes} min (blockingThresholdMinutes)",
            f"blocked_call: {decision.blocked_call}",
            f"leftover: {decision.leftover or '-'}",
        ]
    lines.append(f"the deployment's retry {result.retry_token[:8] or '-'} → {result.retry_status}")
    return lines
