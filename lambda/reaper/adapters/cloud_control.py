"""Cloud Control's request surface, rate-limited for every HTTP attempt, retries included."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from reaper.adapters._errors import code_and_message
from reaper.errors import THROTTLING_CODES, CloudControlError, RequestNotFound
from reaper.models import RequestStatus, Status
from reaper.ratelimit import TokenBucket

if TYPE_CHECKING:
    from mypy_boto3_cloudcontrol import CloudControlApiClient

NOT_FOUND = "RequestTokenNotFoundException"
RESOURCE_NOT_FOUND = "ResourceNotFoundException"
PAGE_SIZE = 100


class CloudControlAdapter:
    """GetResourceRequestStatus, CancelResourceRequest, ListResourceRequests.

    The token bucket is acquired on botocore's ``before-send`` event, so each attempt, the
    retries of botocore's retry mode included, counts against the one shared rate.
    """

    def __init__(self, client: CloudControlApiClient, limiter: TokenBucket) -> None:
        self._client = client
        self._limiter = limiter
        self._throttled = 0
        self._lock = threading.Lock()
        events = client.meta.events
        events.register("before-send.cloudcontrol", self._before_send)
        events.register("needs-retry.cloudcontrol", self._count_throttle)

    def get_status(self, token: str) -> RequestStatus:
        try:
            response = self._client.get_resource_request_status(RequestToken=token)
        except (ClientError, BotoCoreError) as exc:
            raise _domain_error(exc, token) from exc
        return to_request_status(response["ProgressEvent"], response.get("HooksProgressEvent"))

    def resource_exists(self, type_name: str, identifier: str) -> bool | None:
        """GetResource, for existence only: the description (which may hold secrets) is
        dropped unread. None when it cannot be told (no permission, throttled, ...)."""
        try:
            self._client.get_resource(TypeName=type_name, Identifier=identifier)
        except (ClientError, BotoCoreError) as exc:
            return False if code_and_message(exc)[0] == RESOURCE_NOT_FOUND else None
        return True

    def cancel(self, token: str) -> RequestStatus:
        return self._progress(self._client.cancel_resource_request, token)

    @staticmethod
    def _progress(method: Any, token: str) -> RequestStatus:
        """Both calls take a RequestToken and answer a ProgressEvent."""
        try:
            response = method(RequestToken=token)
        except (ClientError, BotoCoreError) as exc:
            raise _domain_error(exc, token) from exc
        return to_request_status(response["ProgressEvent"])

    def list_requests(self, statuses: Sequence[Status]) -> Iterator[list[RequestStatus]]:
        params: dict[str, Any] = {
            "MaxResults": PAGE_SIZE,
            "ResourceRequestStatusFilter": {"OperationStatuses": [s.value for s in statuses]},
        }
        while True:
            try:
                response = self._client.list_resource_requests(**params)
            except (ClientError, BotoCoreError) as exc:
                raise _domain_error(exc, "") from exc
            yield [to_request_status(e) for e in response.get("ResourceRequestStatusSummaries", [])]
            next_token = response.get("NextToken")
            if not next_token:
                return
            params["NextToken"] = next_token

    def throttled_calls(self) -> int:
        with self._lock:
            return self._throttled

    def _before_send(self, **_: Any) -> None:
        self._limiter.acquire()

    def _count_throttle(self, response: Any = None, **_: Any) -> None:
        if response is None:
            return
        parsed = response[1] if isinstance(response, tuple) and len(response) > 1 else {}
        if parsed.get("Error", {}).get("Code") in THROTTLING_CODES:
            with self._lock:
                self._throttled += 1


def to_request_status(
    event: Mapping[str, Any], hooks: Sequence[Mapping[str, Any]] | None = None
) -> RequestStatus:
    """A ProgressEvent without its ResourceModel, which is dropped here and never kept;
    ``hooks``: GetResourceRequestStatus's HooksProgressEvent, of which the latest status."""
    try:
        status = Status(event["OperationStatus"])
    except (KeyError, ValueError) as exc:
        raise CloudControlError("UnexpectedResponse", f"bad OperationStatus: {exc}") from None
    return RequestStatus(
        token=str(event.get("RequestToken", "")),
        type_name=str(event.get("TypeName") or ""),
        identifier=event.get("Identifier"),
        operation=str(event.get("Operation", "")),
        status=status,
        event_time=event.get("EventTime"),
        status_message=event.get("StatusMessage"),
        error_code=event.get("ErrorCode"),
        hooks_token=event.get("HooksRequestToken") or None,
        hook_status=_latest_hook_status(hooks),
    )


def _latest_hook_status(hooks: Sequence[Mapping[str, Any]] | None) -> str | None:
    if not hooks:
        return None
    epoch = datetime.min.replace(tzinfo=UTC)
    latest = max(hooks, key=lambda h: h.get("HookEventTime") or epoch)
    status = latest.get("HookStatus")
    return str(status) if status else None


def _domain_error(error: ClientError | BotoCoreError, token: str) -> Exception:
    code, message = code_and_message(error)
    if code == NOT_FOUND:
        return RequestNotFound(token)
    return CloudControlError(code, message)
