"""The demo account's requests and inputs: real Create/Update/DeleteResource calls started at
their times on the emulator's clock, the clock then kept on wall time, and the events the
handler gets (a schedule's, CloudTrail's record of a call that started a request)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from ccapi_emulator import EmulatorServer
from ccapi_emulator.cloudtrail import accepted_call_event
from reaper import contracts

from reaper_local.demo_scenario import Planned, by_name

TAGS_PATCH = json.dumps(
    [{"op": "add", "path": "/Tags", "value": [{"Key": "team", "Value": "demo"}]}]
)
# Who started the young log group (its CloudTrail record says so).
STARTER_ARN = "arn:aws:sts::123456789012:assumed-role/platform/alice"
STARTER_AGENT = "aws-cli/2.22.0"


class ClockFollower:
    """Once the emulator's clock has caught up with the present, keep it on wall time, so a
    cancel completes (1 s in CANCEL_IN_PROGRESS) while the reaper follows it."""

    def __init__(self, server: EmulatorServer) -> None:
        self._clock = server.backend.clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="clock-follower", daemon=True)

    def catch_up(self) -> None:
        behind = time.time() - self._clock.now()
        if behind > 0:
            self._clock.advance(behind)

    def __enter__(self) -> ClockFollower:
        self.catch_up()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.catch_up()


def start_requests(cloudcontrol: Any, server: EmulatorServer, planned: list[Planned]) -> None:
    """Real CreateResource/UpdateResource/DeleteResource calls, each at its time in the past."""
    backend = server.backend
    clock = backend.clock
    start = clock.now()
    names = by_name(planned)
    for request in sorted(planned, key=lambda p: p.start_offset):
        due = start + request.start_offset
        if due > clock.now():
            clock.advance(due - clock.now())
        if request.lifecycle is not None:
            backend.set_lifecycle(request.type_name, request.lifecycle)
        if request.operation == "CREATE":
            event = cloudcontrol.create_resource(
                TypeName=request.type_name, DesiredState=json.dumps(request.desired_state)
            )["ProgressEvent"]
        elif request.operation == "UPDATE":
            request.identifier = names[request.target].identifier
            event = cloudcontrol.update_resource(
                TypeName=request.type_name, Identifier=request.identifier, PatchDocument=TAGS_PATCH
            )["ProgressEvent"]
        else:
            event = cloudcontrol.delete_resource(
                TypeName=request.type_name, Identifier=request.identifier
            )["ProgressEvent"]
        request.token = event["RequestToken"]
        request.identifier = event.get("Identifier") or request.identifier


def scheduled_event(account_id: str, region: str, rule: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": contracts.SCHEDULE_DETAIL_TYPE,
        "source": contracts.SCHEDULE_EVENT_SOURCE,
        "account": account_id,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{account_id}:rule/{rule}"],
        "detail": {},
    }


def started_record(request: Planned, region: str) -> dict[str, Any]:
    """CloudTrail's record of the CreateResource call that started ``request`` (the emulator's
    helper: AWS's documented shape; where the token sits is a guess, facts.md)."""
    progress = {
        "TypeName": request.type_name,
        "Identifier": request.identifier,
        "RequestToken": request.token,
        "Operation": request.operation,
        "OperationStatus": "IN_PROGRESS",
    }
    return accepted_call_event(
        "CreateResource",
        request.type_name,
        None,
        progress,
        STARTER_ARN,
        STARTER_AGENT,
        region=region,
    )
