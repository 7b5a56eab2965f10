"""The emulator's state: resource operation requests, the knobs, and the counters tests read.

Every API call goes through :meth:`EmulatorBackend.call`: count it, wait the configured latency
(outside the lock, so calls overlap), throttle or inject a fault, validate it against botocore's
model, then run it under one lock. A request's status is worked out from its timeline and the
clock when asked, so thousands of requests cost nothing while they wait.
"""

from __future__ import annotations

import bisect
import fnmatch
import hashlib
import itertools
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ccapi_emulator import cloudtrail, conflicts, errors
from ccapi_emulator.clock import Clock
from ccapi_emulator.config import EmulatorConfig
from ccapi_emulator.cursors import decode_cursor, decode_offset, encode_cursor, encode_offset
from ccapi_emulator.hooks import HookSpec, hook_for
from ccapi_emulator.lifecycle import (
    CANCEL_COMPLETE,
    CANCEL_IN_PROGRESS,
    CANCELLABLE,
    FAILED,
    OPERATIONS,
    STATUSES,
    SUCCESS,
    Lifecycle,
    Timeline,
    event_time,
    status_at,
)
from ccapi_emulator.patch import apply_patch
from ccapi_emulator.ratelimit import RateLimiter
from ccapi_emulator.validation import operation_model, validate

Json = dict[str, Any]


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


@dataclass(slots=True)
class _Request:
    token: str
    seq: int
    type_name: str
    identifier: str
    operation: str
    created_at: float
    timeline: Timeline
    resource_model: str | None
    error_code: str | None = None
    status_message: str | None = None
    progress_tick_seconds: float | None = None
    cancelled_at: float | None = None
    hooks_token: str | None = None
    hook: HookSpec | None = None

    @property
    def key(self) -> tuple[float, int]:
        return (self.created_at, self.seq)

    def state(self, now: float) -> tuple[str, float]:
        """(OperationStatus, EventTime) at ``now``."""
        entered, status = status_at(self.timeline, now)
        return status, event_time(entered, status, now, self.progress_tick_seconds)

    def progress_event(self, now: float, *, with_type_name: bool = True) -> Json:
        """The ProgressEvent as it goes on the wire (EventTime in epoch seconds)."""
        status, when = self.state(now)
        event: Json = {"TypeName": self.type_name} if with_type_name else {}
        event.update(
            {
                "Identifier": self.identifier,
                "RequestToken": self.token,
                **({"HooksRequestToken": self.hooks_token} if self.hooks_token else {}),
                "Operation": self.operation,
                "OperationStatus": status,
                "EventTime": when,
            }
        )
        if self.resource_model is not None:
            event["ResourceModel"] = self.resource_model
        if status == FAILED:
            event["ErrorCode"] = self.error_code
            if self.status_message:
                event["StatusMessage"] = self.status_message
        return event


@dataclass(frozen=True)
class RequestView:
    """One request as a test sees it in a snapshot."""

    token: str
    type_name: str
    identifier: str
    operation: str
    status: str
    event_time: datetime
    created_at: datetime
    resource_model: str | None
    error_code: str | None
    status_message: str | None
    cancelled_at: datetime | None
    hooks_request_token: str | None = None

    @classmethod
    def of(cls, request: _Request, now: float) -> RequestView:
        status, when = request.state(now)
        return cls(
            token=request.token,
            type_name=request.type_name,
            identifier=request.identifier,
            operation=request.operation,
            status=status,
            event_time=_utc(when),
            created_at=_utc(request.created_at),
            resource_model=request.resource_model,
            error_code=request.error_code if status == FAILED else None,
            status_message=request.status_message if status == FAILED else None,
            cancelled_at=None if request.cancelled_at is None else _utc(request.cancelled_at),
            hooks_request_token=request.hooks_token,
        )

    def to_dict(self) -> Json:
        return {
            name: value.isoformat() if isinstance(value, datetime) else value
            for name, value in self.__dict__.items()
        }


@dataclass(frozen=True)
class Snapshot:
    """The full state at one moment: requests, call counts, throttles, faults and cancels."""

    now: datetime
    requests: dict[str, RequestView]
    calls: dict[str, int]
    throttled: int
    throttled_by_operation: dict[str, int]
    faults: dict[str, int]
    validation_errors: int
    cancelled: list[str]
    cancel_noops: list[str]
    config: Json = field(repr=False)

    def status_counts(self) -> dict[str, int]:
        return dict(Counter(view.status for view in self.requests.values()))

    def to_dict(self, *, include_requests: bool = True) -> Json:
        data: Json = {
            "now": self.now.isoformat(),
            "calls": self.calls,
            "throttled": self.throttled,
            "throttled_by_operation": self.throttled_by_operation,
            "faults": self.faults,
            "validation_errors": self.validation_errors,
            "cancelled": self.cancelled,
            "cancel_noops": self.cancel_noops,
            "status_counts": self.status_counts(),
            "request_count": len(self.requests),
            "config": self.config,
        }
        if include_requests:
            data["requests"] = [view.to_dict() for view in self.requests.values()]
        return data


def _token_fraction(token: str) -> float:
    """A number in [0, 1) fixed by the token, so a fraction of requests is chosen repeatably."""
    digest = hashlib.sha256(token.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


class EmulatorBackend:
    """Thread-safe in-process state of the emulator; the HTTP server is a thin layer over it."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self._initial = config or EmulatorConfig()
        self.clock = Clock(manual=self._initial.manual_clock, start=self._initial.start_time)
        self._lock = threading.RLock()
        self._handlers: dict[str, Callable[[Json, float], Json]] = {
            "CreateResource": self._create_resource,
            "UpdateResource": self._update_resource,
            "DeleteResource": self._delete_resource,
            "GetResourceRequestStatus": self._get_resource_request_status,
            "ListResourceRequests": self._list_resource_requests,
            "CancelResourceRequest": self._cancel_resource_request,
            "GetResource": self._get_resource,
            "ListResources": self._list_resources,
        }
        self.reset()

    # ------------------------------------------------------------------ control
    def reset(self) -> None:
        """Forget every request and counter, back to the starting config. The clock runs on."""
        with self._lock:
            self._config = self._initial
            self._lifecycles: dict[str, Lifecycle] = dict(self._initial.lifecycles)
            self._limiter = self._make_limiter(self._config)
            self._random = random.Random(self._config.random_seed)  # noqa: S311 - fault dice
            self._by_token: dict[str, _Request] = {}
            self._ordered: list[_Request] = []  # oldest first, by (created_at, seq)
            self._keys: list[tuple[float, int]] = []
            self._resources: dict[tuple[str, str], list[_Request]] = {}
            self._client_tokens: dict[str, _Request] = {}
            self._next_purge_at = float("inf")
            self._seq = 0
            self._calls: Counter[str] = Counter()
            self._throttled: Counter[str] = Counter()
            self._faults: Counter[str] = Counter()
            self._validation_errors = 0
            self._cancelled: list[str] = []
            self._cancel_noops: list[str] = []
            self._trail: list[Json] = []

    @property
    def config(self) -> EmulatorConfig:
        return self._config

    def configure(self, **knobs: Any) -> EmulatorConfig:
        """Change run-time knobs, e.g. ``configure(latency_ms=50, rate_per_second=None)``.

        Changing a rate refills its buckets. Returns the config now in force.
        """
        with self._lock:
            config = self._config.replace(**knobs)
            rate_knobs = {"rate_per_second", "account_rate_per_second", "burst_seconds"}
            if rate_knobs & knobs.keys():
                self._limiter = self._make_limiter(config)
            self._config = config
            return config

    def set_lifecycle(self, type_pattern: str, lifecycle: Lifecycle | None) -> None:
        """Give requests started from now on for matching TypeNames (a glob) this lifecycle.

        The most recently set matching pattern wins; ``None`` removes the pattern.
        """
        with self._lock:
            self._lifecycles.pop(type_pattern, None)
            if lifecycle is not None:
                self._lifecycles[type_pattern] = lifecycle

    def lifecycle_for(self, type_name: str) -> Lifecycle:
        with self._lock:
            for pattern in reversed(self._lifecycles):
                if fnmatch.fnmatchcase(type_name, pattern):
                    return self._lifecycles[pattern]
            return self._config.default_lifecycle

    def seed(
        self,
        count: int = 1,
        *,
        type_name: str = "AWS::S3::Bucket",
        operation: str = "CREATE",
        status: str | None = None,
        age_seconds: float = 0.0,
        resource_model: str | None = None,
        identifier_prefix: str = "seeded-",
        lifecycle: Lifecycle | None = None,
        hook: HookSpec | Json | None = None,
    ) -> list[str]:
        """Add ``count`` requests started ``age_seconds`` ago; return their tokens.

        Without a lifecycle a request holds ``status`` (default IN_PROGRESS) for good, and its
        EventTime is its start. With a lifecycle it is where that lifecycle puts a request
        started ``age_seconds`` ago; ``status`` must then be left out. ``hook`` (a HookSpec or
        its dict) gives each a HooksRequestToken and that hook; without it the ``hooks`` knob's
        hook for ``type_name``, if any, applies.
        """
        if lifecycle is not None and status is not None:
            raise ValueError("give a status or a lifecycle, not both")
        status = status or "IN_PROGRESS"
        if status not in STATUSES or operation not in OPERATIONS:
            raise ValueError(f"unknown status {status!r} or operation {operation!r}")
        if count < 0 or age_seconds < 0:
            raise ValueError("count and age_seconds must be >= 0")
        spec = HookSpec.from_dict(hook) if hook is not None else None
        with self._lock:
            spec = spec or hook_for(self._config.hooks, type_name)
            now = self.clock.now()
            created = now - age_seconds
            if lifecycle is not None:
                timeline = lifecycle.timeline(created)
            elif status == CANCEL_IN_PROGRESS:
                timeline = [
                    (created, status),
                    (now + self._config.cancel_complete_after_seconds, CANCEL_COMPLETE),
                ]
            else:
                timeline = [(created, status)]
            failure = lifecycle if lifecycle is not None else Lifecycle.fail()
            new: list[_Request] = []
            for _ in range(count):
                self._seq += 1
                request = _Request(
                    token=str(uuid.uuid4()),
                    seq=self._seq,
                    type_name=type_name,
                    identifier=f"{identifier_prefix}{self._seq}",
                    operation=operation,
                    created_at=created,
                    timeline=list(timeline),
                    resource_model=resource_model,
                    error_code=failure.error_code,
                    status_message=failure.status_message,
                    progress_tick_seconds=lifecycle.progress_tick_seconds if lifecycle else None,
                    hooks_token=str(uuid.uuid4()) if spec else None,
                    hook=spec,
                )
                new.append(request)
                self._remember(request)
            self._ordered.extend(new)
            self._ordered.sort(key=lambda r: r.key)
            self._keys = [r.key for r in self._ordered]
            if new:
                self._next_purge_at = min(
                    self._next_purge_at, created + self._config.retention_seconds
                )
            return [r.token for r in new]

    def request(self, token: str) -> RequestView | None:
        """One request as it is now, or None if unknown or forgotten."""
        with self._lock:
            now = self.clock.now()
            self._purge(now)
            found = self._by_token.get(token)
            return None if found is None else RequestView.of(found, now)

    def cloudtrail_events(self) -> list[Json]:
        """The CloudTrail records (EventBridge events) of the write calls served while
        ``record_cloudtrail`` was on, oldest first: accepted ones and refused ones."""
        with self._lock:
            return list(self._trail)

    def snapshot(self, *, include_requests: bool = True) -> Snapshot:
        with self._lock:
            now = self.clock.now()
            self._purge(now)
            requests = (
                {r.token: RequestView.of(r, now) for r in self._ordered} if include_requests else {}
            )
            config = self._config.to_dict()
            config["lifecycles"] = {glob: lc.to_dict() for glob, lc in self._lifecycles.items()}
            return Snapshot(
                now=_utc(now),
                requests=requests,
                calls=dict(self._calls),
                throttled=sum(self._throttled.values()),
                throttled_by_operation=dict(self._throttled),
                faults=dict(self._faults),
                validation_errors=self._validation_errors,
                cancelled=list(self._cancelled),
                cancel_noops=list(self._cancel_noops),
                config=config,
            )

    # ------------------------------------------------------------------ the API
    def call(self, operation: str, params: Any, *, user_agent: str | None = None) -> Json:
        """Serve one API call; return the response body or raise :class:`errors.ApiError`.

        ``user_agent`` only goes into CloudTrail records (``record_cloudtrail``).
        """
        model = operation_model(operation)
        with self._lock:
            self._calls[operation] += 1
            config = self._config
            limiter = self._limiter
        if config.latency_ms:
            time.sleep(config.latency_ms / 1000.0)
        fault = self._injected_fault(operation, config, limiter)
        if fault is not None:
            raise fault
        try:
            validate(model, params)
        except errors.ApiError:
            with self._lock:
                self._validation_errors += 1
            raise
        with self._lock:
            now = self.clock.now()
            self._purge(now)
            if not (self._config.record_cloudtrail and operation in cloudtrail.WRITE_EVENTS):
                return self._handlers[operation](params, now)
            try:
                answer = self._handlers[operation](params, now)
            except errors.ApiError as error:
                self._trail.append(self._call_record(operation, params, now, user_agent, error))
                raise
            self._trail.append(self._call_record(operation, params, now, user_agent, answer))
            return answer

    def _injected_fault(
        self, operation: str, config: EmulatorConfig, limiter: RateLimiter
    ) -> errors.ApiError | None:
        """A throttle or an injected fault for this call, if the dice or the buckets say so."""
        admitted = limiter.admit(operation)
        with self._lock:
            roll = self._random.random
            if not admitted or roll() < config.throttle_probability:
                self._throttled[operation] += 1
                return errors.throttled()
            fault = None
            if roll() < config.internal_failure_probability:
                fault = errors.internal_failure()
            elif (
                operation == "CancelResourceRequest"
                and roll() < config.concurrent_modification_probability
            ):
                fault = errors.concurrent_modification()
            if fault is not None:
                self._faults[fault.code] += 1
            return fault

    def _create_resource(self, params: Json, now: float) -> Json:
        identifier = conflicts.identifier_in_desired_state(
            self._config.identifier_properties, params["TypeName"], params["DesiredState"]
        )
        return self._start(params, "CREATE", identifier, params["DesiredState"], now)

    def _update_resource(self, params: Json, now: float) -> Json:
        current = self._properties(params["TypeName"], params["Identifier"], now)
        model = apply_patch(current, params["PatchDocument"])
        return self._start(params, "UPDATE", params["Identifier"], model, now)

    def _delete_resource(self, params: Json, now: float) -> Json:
        return self._start(params, "DELETE", params["Identifier"], None, now)

    def _start(
        self, params: Json, operation: str, identifier: str | None, model: str | None, now: float
    ) -> Json:
        """Start a request; a retry with the same ClientToken gets the first request back."""
        client_token = params.get("ClientToken")
        earlier = self._client_tokens.get(client_token) if client_token else None
        if earlier is not None and earlier.token in self._by_token:
            return {"ProgressEvent": earlier.progress_event(now)}
        if identifier is not None and self._config.conflicts == "refuse":
            self._refuse_if_busy(params["TypeName"], identifier, now)
        lifecycle = self.lifecycle_for(params["TypeName"])
        hook = hook_for(self._config.hooks, params["TypeName"])
        self._seq += 1
        request = _Request(
            token=str(uuid.uuid4()),
            seq=self._seq,
            type_name=params["TypeName"],
            identifier=identifier or f"emulated-{self._seq}",
            operation=operation,
            created_at=now,
            timeline=lifecycle.timeline(now),
            resource_model=model,
            error_code=lifecycle.error_code,
            status_message=lifecycle.status_message,
            progress_tick_seconds=lifecycle.progress_tick_seconds,
            hooks_token=str(uuid.uuid4()) if hook else None,
            hook=hook,
        )
        self._remember(request)
        if client_token:
            self._client_tokens[client_token] = request
        position = bisect.bisect_right(self._keys, request.key)
        self._keys.insert(position, request.key)
        self._ordered.insert(position, request)
        self._next_purge_at = min(self._next_purge_at, now + self._config.retention_seconds)
        return {"ProgressEvent": request.progress_event(now)}

    def _get_resource_request_status(self, params: Json, now: float) -> Json:
        request = self._find(params["RequestToken"])
        body: Json = {"ProgressEvent": self._read_event(request, now, listing=False)}
        if request.hook is not None:
            body["HooksProgressEvent"] = [request.hook.progress_event(request.created_at, now)]
        return body

    def _cancel_resource_request(self, params: Json, now: float) -> Json:
        request = self._find(params["RequestToken"])
        status, _ = request.state(now)
        if status not in CANCELLABLE:
            self._cancel_noops.append(request.token)
            mode = self._config.finished_cancel
            if mode == "concurrent-modification":
                raise errors.finished_cancel_conflict(request.token, status)
            if mode == "invalid-request":
                raise errors.not_cancellable(request.token, status)
            return {"ProgressEvent": self._read_event(request, now, listing=False)}
        reached = [phase for phase in request.timeline if phase[0] <= now]
        delay = self._config.cancel_complete_after_seconds
        request.timeline = [*reached, (now, CANCEL_IN_PROGRESS), (now + delay, CANCEL_COMPLETE)]
        request.cancelled_at = now
        self._cancelled.append(request.token)
        event = self._read_event(request, now, listing=False)
        event.update(OperationStatus=CANCEL_IN_PROGRESS, EventTime=now)
        return {"ProgressEvent": event}

    def _list_resource_requests(self, params: Json, now: float) -> Json:
        """Newest first, as the requests were ``listing_lag_seconds`` ago.

        A request started less than the lag ago is not listed yet: the listing is the state of
        the world at ``now - lag``.
        """
        wanted = params.get("ResourceRequestStatusFilter") or {}
        operations = set(wanted.get("Operations") or OPERATIONS)
        statuses = set(wanted.get("OperationStatuses") or STATUSES)
        limit = params.get("MaxResults", 20)
        cursor = params.get("NextToken")
        seen_at = now - self._config.listing_lag_seconds

        def listed(request: _Request) -> bool:
            return (
                request.created_at <= seen_at
                and request.operation in operations
                and request.state(seen_at)[0] in statuses
            )

        chosen: list[_Request]
        next_token = None
        if self._config.cursor == "positional":
            offset = decode_offset(cursor) if cursor else 0
            matches = (r for r in reversed(self._ordered) if listed(r))
            chosen = list(itertools.islice(matches, offset, offset + limit + 1))
            if len(chosen) > limit:
                chosen.pop()
                next_token = encode_offset(offset + limit)
        else:
            index = (
                bisect.bisect_right(self._keys, decode_cursor(cursor)) - 1
                if cursor
                else len(self._ordered) - 1
            )
            chosen = []
            while index >= 0:  # newest first
                request = self._ordered[index]
                if listed(request):
                    if len(chosen) == limit:
                        next_token = encode_cursor(request.key)
                        break
                    chosen.append(request)
                index -= 1
        page = [self._read_event(r, seen_at, listing=True) for r in chosen]
        body: Json = {"ResourceRequestStatusSummaries": page}
        if next_token:
            body["NextToken"] = next_token
        return body

    def _get_resource(self, params: Json, now: float) -> Json:
        type_name, identifier = params["TypeName"], params["Identifier"]
        properties = self._properties(type_name, identifier, now)
        if properties is None:
            raise errors.ApiError(
                "ResourceNotFoundException",
                f"Resource of type '{type_name}' with identifier '{identifier}' was not found.",
            )
        return {
            "TypeName": type_name,
            "ResourceDescription": {"Identifier": identifier, "Properties": properties},
        }

    def _list_resources(self, params: Json, now: float) -> Json:
        type_name = params["TypeName"]
        found = []
        for kind, identifier in self._resources:
            properties = self._properties(kind, identifier, now) if kind == type_name else None
            if properties is not None:
                found.append({"Identifier": identifier, "Properties": properties})
        return {"TypeName": type_name, "ResourceDescriptions": found}

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _make_limiter(config: EmulatorConfig) -> RateLimiter:
        return RateLimiter(
            config.rate_per_second, config.account_rate_per_second, config.burst_seconds
        )

    def _read_event(self, request: _Request, at: float, *, listing: bool) -> Json:
        """The ProgressEvent Get, Cancel (``listing=False``) or List show, TypeName per the mode.

        Create, Update and Delete answer with ``progress_event`` directly: the caller has just
        sent the TypeName, so no mode leaves it out there.
        """
        mode = self._config.missing_type_name
        hidden = (mode == "all" or (mode == "list" and listing)) and (
            _token_fraction(request.token) < self._config.missing_type_name_fraction
        )
        return request.progress_event(at, with_type_name=not hidden)

    def _remember(self, request: _Request) -> None:
        """Index a request by token and by the resource it acts on."""
        self._by_token[request.token] = request
        self._resources.setdefault((request.type_name, request.identifier), []).append(request)

    def _find(self, token: str) -> _Request:
        request = self._by_token.get(token)
        if request is None:
            raise errors.token_not_found(token)
        return request

    def _properties(self, type_name: str, identifier: str, now: float) -> str | None:
        """The resource's properties as JSON, or None if it does not exist (now).

        The request on the resource that most recently reached SUCCESS decides: a CREATE or
        UPDATE leaves its resource model, a DELETE leaves nothing. With
        ``cancelled_create_leaves`` "resource" for the type, a CREATE that reached
        CANCEL_COMPLETE counts too, and leaves a half-made resource with properties ``{}``.
        """
        leaves = conflicts.leftover_mode(self._config.cancelled_create_leaves, type_name)
        last: tuple[float, _Request, str] | None = None
        for request in self._resources.get((type_name, identifier), []):
            entered, status = status_at(request.timeline, now)
            counts = status == SUCCESS or (
                status == CANCEL_COMPLETE and request.operation == "CREATE" and leaves == "resource"
            )
            if counts and (last is None or entered >= last[0]):
                last = (entered, request, status)
        if last is None or last[1].operation == "DELETE":
            return None
        if last[2] == CANCEL_COMPLETE:
            return "{}"
        return last[1].resource_model or "{}"

    def _call_record(
        self,
        operation: str,
        params: Json,
        now: float,
        user_agent: str | None,
        outcome: Json | errors.ApiError,
    ) -> Json:
        principal = self._config.cloudtrail_principal_arn
        return cloudtrail.call_record(
            operation, params, now, principal_arn=principal, user_agent=user_agent, outcome=outcome
        )

    def _refuse_if_busy(self, type_name: str, identifier: str, now: float) -> None:
        """ConcurrentOperationException if the resource has an active request."""
        blocking = conflicts.blocking_request(self._resources.get((type_name, identifier), []), now)
        if blocking is not None:
            raise conflicts.concurrent_operation(
                identifier, type_name, blocking.token, self._config.conflict_message
            )

    def _purge(self, now: float) -> None:
        """Forget requests older than the retention (7 days), as AWS does.

        The one place that decides expiry; every read of the state calls it first. It walks
        the requests only when the oldest one has expired.
        """
        if now < self._next_purge_at:
            return
        cutoff = now - self._config.retention_seconds
        self._ordered = [r for r in self._ordered if r.created_at >= cutoff]
        self._keys = [r.key for r in self._ordered]
        self._by_token, self._resources = {}, {}
        for request in self._ordered:
            self._remember(request)
        self._client_tokens = {
            client: r for client, r in self._client_tokens.items() if r.token in self._by_token
        }
        oldest = self._ordered[0].created_at if self._ordered else float("inf")
        self._next_purge_at = oldest + self._config.retention_seconds
