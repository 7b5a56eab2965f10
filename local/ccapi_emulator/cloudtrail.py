"""CloudTrail records of Cloud Control write calls, as EventBridge delivers them.

The envelope and ``detail`` follow AWS's documented shape of an "AWS API Call via CloudTrail"
event (source ``aws.cloudcontrolapi``, ``detail.eventSource`` ``cloudcontrolapi.amazonaws.com``).
Members the API model marks sensitive (DesiredState, PatchDocument, ResourceModel) appear as
``HIDDEN_DUE_TO_SECURITY_REASONS``, as CloudTrail shows them. Where the request token sits in a
successful call's record is not documented: here it is
``detail.responseElements.progressEvent.requestToken`` (CloudTrail camel-cases the response).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

DETAIL_TYPE = "AWS API Call via CloudTrail"
SOURCE = "aws.cloudcontrolapi"
EVENT_SOURCE = "cloudcontrolapi.amazonaws.com"
HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
SOURCE_IP = "203.0.113.10"  # TEST-NET-3: documentation addresses only
DEFAULT_PRINCIPAL_ARN = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/Deployer/deploy-session"
DEFAULT_USER_AGENT = "aws-sdk (emulated)"
CONFLICT_ERROR_CODE = "ConcurrentOperationException"
WRITE_EVENTS: tuple[str, ...] = ("CreateResource", "UpdateResource", "DeleteResource")

Json = dict[str, Any]
Time = datetime | float | int


def _iso(when: Time) -> str:
    moment = when if isinstance(when, datetime) else datetime.fromtimestamp(when, UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _user_identity(principal_arn: str, account_id: str, event_time: str) -> Json:
    """An AssumedRole identity for ``arn:aws:sts::<account>:assumed-role/<role>/<session>``."""
    resource = principal_arn.split(":", 5)[-1]
    parts = resource.split("/")
    role = parts[1] if len(parts) > 1 else "Deployer"
    session = parts[2] if len(parts) > 2 else "session"
    role_id = "AROAEMULATEDROLE0001"
    return {
        "type": "AssumedRole",
        "principalId": f"{role_id}:{session}",
        "arn": principal_arn,
        "accountId": account_id,
        "accessKeyId": "ASIAEMULATEDKEY00001",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": role_id,
                "arn": f"arn:aws:iam::{account_id}:role/{role}",
                "accountId": account_id,
                "userName": role,
            },
            "attributes": {"creationDate": event_time, "mfaAuthenticated": "false"},
        },
    }


def request_parameters(event_name: str, type_name: str, identifier: str | None) -> Json:
    """What CloudTrail keeps of the call's input: sensitive members hidden.

    CreateResource takes no Identifier, so ``identifier=None`` leaves it out.
    """
    params: Json = {"typeName": type_name}
    if identifier is not None:
        params["identifier"] = identifier
    if event_name == "CreateResource":
        params["desiredState"] = HIDDEN
    elif event_name == "UpdateResource":
        params["patchDocument"] = HIDDEN
    return params


def camel_progress_event(event: Mapping[str, Any]) -> Json:
    """A wire (or boto3) ProgressEvent with CloudTrail's camelCase keys, times as ISO 8601."""
    out: Json = {}
    for key, value in event.items():
        name = key[:1].lower() + key[1:]
        if key == "ResourceModel":
            out[name] = HIDDEN
        elif key in ("EventTime", "RetryAfter") and value is not None:
            out[name] = _iso(value)
        else:
            out[name] = value
    return out


def _record(
    event_name: str,
    principal_arn: str,
    user_agent: str,
    event_time: Time,
    parameters: Json,
    *,
    account_id: str,
    region: str,
    error: tuple[str, str] | None = None,
) -> Json:
    when = _iso(event_time)
    detail: Json = {
        "eventVersion": "1.09",
        "userIdentity": _user_identity(principal_arn, account_id, when),
        "eventTime": when,
        "eventSource": EVENT_SOURCE,
        "eventName": event_name,
        "awsRegion": region,
        "sourceIPAddress": SOURCE_IP,
        "userAgent": user_agent,
    }
    if error is not None:
        detail["errorCode"], detail["errorMessage"] = error
    detail |= {
        "requestParameters": parameters,
        "responseElements": None,
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account_id,
        "eventCategory": "Management",
    }
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": SOURCE,
        "account": account_id,
        "time": when,
        "region": region,
        "resources": [],
        "detail": detail,
    }


def refused_call_event(  # noqa: PLR0917 - the positional order is the demo's and tests' contract
    event_name: str,
    type_name: str,
    identifier: str | None,
    error_message: str,
    principal_arn: str = DEFAULT_PRINCIPAL_ARN,
    user_agent: str = DEFAULT_USER_AGENT,
    event_time: Time | None = None,
    *,
    error_code: str = CONFLICT_ERROR_CODE,
    account_id: str = ACCOUNT_ID,
    region: str = REGION,
) -> Json:
    """The EventBridge event of a write call refused with ``error_code`` (no request started)."""
    return _record(
        event_name,
        principal_arn,
        user_agent,
        datetime.now(UTC) if event_time is None else event_time,
        request_parameters(event_name, type_name, identifier),
        account_id=account_id,
        region=region,
        error=(error_code, error_message),
    )


def accepted_call_event(  # noqa: PLR0917 - the same order as refused_call_event
    event_name: str,
    type_name: str,
    identifier: str | None,
    progress_event: Mapping[str, Any],
    principal_arn: str = DEFAULT_PRINCIPAL_ARN,
    user_agent: str = DEFAULT_USER_AGENT,
    event_time: Time | None = None,
    *,
    account_id: str = ACCOUNT_ID,
    region: str = REGION,
) -> Json:
    """The EventBridge event of a write call that started a request: ``responseElements`` is
    ``{"progressEvent": {...}}``, the ProgressEvent camel-cased (``requestToken`` among them)."""
    record = _record(
        event_name,
        principal_arn,
        user_agent,
        datetime.now(UTC) if event_time is None else event_time,
        request_parameters(event_name, type_name, identifier),
        account_id=account_id,
        region=region,
    )
    record["detail"]["responseElements"] = {"progressEvent": camel_progress_event(progress_event)}
    return record


def call_record(
    operation: str,
    params: Mapping[str, Any],
    now: float,
    *,
    principal_arn: str,
    user_agent: str | None,
    outcome: Mapping[str, Any] | Exception,
) -> Json:
    """The record of one write call the emulator served: its answer, or the ApiError it raised
    (``code`` and ``message``)."""
    type_name = str(params.get("TypeName"))
    identifier = params.get("Identifier")  # CreateResource takes none
    agent = user_agent or DEFAULT_USER_AGENT
    if isinstance(outcome, Exception):
        return refused_call_event(
            operation,
            type_name,
            identifier,
            str(getattr(outcome, "message", outcome)),
            principal_arn,
            agent,
            now,
            error_code=str(getattr(outcome, "code", type(outcome).__name__)),
        )
    progress = outcome.get("ProgressEvent") or {}
    return accepted_call_event(
        operation, type_name, identifier, progress, principal_arn, agent, now
    )
