"""One active request per resource: ConcurrentOperationException, and what a resource is.

A Create/Update/DeleteResource on a resource (TypeName + Identifier) that already has an active
request (PENDING, IN_PROGRESS or CANCEL_IN_PROGRESS) is refused with ConcurrentOperationException
(HTTP 400; in botocore's model of all three calls). A CreateResource acts on a known resource
only when the emulator knows its type's primary identifier property and DesiredState sets it
(``EmulatorConfig.identifier_properties``); the request's Identifier is then that value.

The message follows the one public report (radius-project/radius #7066); its format is not
documented, so ``conflict_message`` chooses whether the blocking token is in it.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Mapping
from typing import Protocol, TypeVar

from ccapi_emulator.errors import ApiError
from ccapi_emulator.lifecycle import CANCEL_IN_PROGRESS, IN_PROGRESS, PENDING

ACTIVE_STATUSES = frozenset({PENDING, IN_PROGRESS, CANCEL_IN_PROGRESS})
CONFLICT_MODES: tuple[str, ...] = ("refuse", "allow")
CONFLICT_MESSAGE_MODES: tuple[str, ...] = ("with-token", "without-token")
LEFTOVER_MODES: tuple[str, ...] = ("nothing", "resource")

# Types whose primary identifier is a property the caller may set in DesiredState (from each
# type's CloudFormation schema, ``primaryIdentifier``). Kept short on purpose: a type not here
# gets an ``emulated-<n>`` identifier, and its creates never conflict.
DEFAULT_IDENTIFIER_PROPERTIES: Mapping[str, str] = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::IAM::Role": "RoleName",
}


class _Request(Protocol):
    @property
    def token(self) -> str: ...

    def state(self, now: float) -> tuple[str, float]: ...


T = TypeVar("T")
R = TypeVar("R", bound=_Request)


def glob_lookup(table: Mapping[str, T], type_name: str) -> T | None:
    """The value of the last glob in ``table`` that matches ``type_name``, else None."""
    for pattern in reversed(list(table)):
        if fnmatch.fnmatchcase(type_name, pattern):
            return table[pattern]
    return None


def identifier_in_desired_state(
    properties: Mapping[str, str], type_name: str, desired_state: str
) -> str | None:
    """The primary identifier a CreateResource's DesiredState sets, if the emulator knows it."""
    name = glob_lookup(properties, type_name)
    if name is None:
        return None
    try:
        state = json.loads(desired_state)
    except ValueError:
        return None
    value = state.get(name) if isinstance(state, dict) else None
    return value if isinstance(value, str) and value else None


def blocking_request(requests: Iterable[R], now: float) -> R | None:
    """The newest active request among ``requests`` (those on one resource), if any."""
    blocking = None
    for request in requests:
        if request.state(now)[0] in ACTIVE_STATUSES:
            blocking = request
    return blocking


def concurrent_operation(identifier: str, type_name: str, token: str, style: str) -> ApiError:
    """The refusal, worded as in the public report (or without the token)."""
    message = f"Concurrent operation found for resource {identifier} of type {type_name}"
    if style == "with-token":
        message += f" with RequestToken {token}"
    return ApiError("ConcurrentOperationException", message)


def leftover_mode(setting: str | Mapping[str, str], type_name: str) -> str:
    """``cancelled_create_leaves`` for one type: a single mode, or the last matching glob's."""
    if isinstance(setting, str):
        return setting
    return glob_lookup(setting, type_name) or "nothing"
