"""CloudFormation Hooks as Cloud Control reports them: a HooksRequestToken on the ProgressEvent and
a ``HooksProgressEvent`` list in GetResourceRequestStatus (botocore's ``HookProgressEvent`` shape).

Off by default. ``EmulatorConfig.hooks`` maps a TypeName glob to a :class:`HookSpec`; a request
started (or seeded) for a matching type gets a HooksRequestToken and one hook invocation, whose
status is ``status`` and, if ``after_seconds`` is set, ``final_status`` that long after the
request started. The hook's status does not drive the request's own status (pair a hook with a
stuck lifecycle to play "a request waiting on a hook looks stuck").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ccapi_emulator.conflicts import glob_lookup

HOOK_PENDING = "HOOK_PENDING"
HOOK_IN_PROGRESS = "HOOK_IN_PROGRESS"
HOOK_COMPLETE_SUCCEEDED = "HOOK_COMPLETE_SUCCEEDED"
HOOK_COMPLETE_FAILED = "HOOK_COMPLETE_FAILED"
HOOK_FAILED = "HOOK_FAILED"
HOOK_STATUSES: tuple[str, ...] = (
    HOOK_PENDING,
    HOOK_IN_PROGRESS,
    HOOK_COMPLETE_SUCCEEDED,
    HOOK_COMPLETE_FAILED,
    HOOK_FAILED,
)
FAILURE_MODES: tuple[str, ...] = ("FAIL", "WARN")


@dataclass(frozen=True)
class HookSpec:
    """One hook invocation on every request of the matching types.

    ``status`` holds from the request's start; with ``after_seconds`` set it becomes
    ``final_status`` that many seconds after the start (``None``: it holds for good).
    """

    status: str = HOOK_IN_PROGRESS
    after_seconds: float | None = None
    final_status: str = HOOK_COMPLETE_SUCCEEDED
    hook_type_name: str = "Emulator::Guard::Hook"
    hook_type_version_id: str = "00000001"
    hook_type_arn: str = (
        "arn:aws:cloudformation:us-east-1:123456789012:type/hook/Emulator-Guard-Hook"
    )
    invocation_point: str = "PRE_PROVISION"
    failure_mode: str = "FAIL"
    status_message: str | None = None

    def __post_init__(self) -> None:
        for name in ("status", "final_status"):
            if getattr(self, name) not in HOOK_STATUSES:
                raise ValueError(
                    f"hook {name} must be one of {', '.join(HOOK_STATUSES)}, "
                    f"not {getattr(self, name)!r}"
                )
        if self.failure_mode not in FAILURE_MODES:
            raise ValueError(f"hook failure_mode must be FAIL or WARN, not {self.failure_mode!r}")
        after = self.after_seconds
        if after is not None and (
            isinstance(after, bool) or not isinstance(after, int | float) or after < 0
        ):
            raise ValueError(f"hook after_seconds must be a number >= 0 or null, not {after!r}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | HookSpec) -> HookSpec:
        if isinstance(data, HookSpec):
            return data
        if not isinstance(data, Mapping):
            raise TypeError(f"a hook is an object, not {type(data).__name__}")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown hook field(s): {', '.join(sorted(unknown))}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def status_at(self, started: float, now: float) -> str:
        if self.after_seconds is not None and now >= started + self.after_seconds:
            return self.final_status
        return self.status

    def progress_event(self, started: float, now: float) -> dict[str, Any]:
        """One ``HookProgressEvent`` as it goes on the wire (HookEventTime in epoch seconds)."""
        event: dict[str, Any] = {
            "HookTypeName": self.hook_type_name,
            "HookTypeVersionId": self.hook_type_version_id,
            "HookTypeArn": self.hook_type_arn,
            "InvocationPoint": self.invocation_point,
            "HookStatus": self.status_at(started, now),
            "HookEventTime": started,
            "FailureMode": self.failure_mode,
        }
        if self.status_message is not None:
            event["HookStatusMessage"] = self.status_message
        return event


def parse_hooks(hooks: Mapping[str, Any]) -> dict[str, HookSpec]:
    """``{glob: HookSpec or its dict}`` to ``{glob: HookSpec}``; ``ValueError`` if malformed."""
    if not isinstance(hooks, Mapping):
        raise ValueError("hooks must map a TypeName glob to a hook")
    parsed: dict[str, HookSpec] = {}
    for glob, spec in hooks.items():
        try:
            parsed[str(glob)] = HookSpec.from_dict(spec)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"hooks[{glob!r}]: {exc}") from None
    return parsed


def hook_for(hooks: Mapping[str, HookSpec], type_name: str) -> HookSpec | None:
    """The hook of the last glob that matches ``type_name`` (``fnmatch``, case-sensitive)."""
    return glob_lookup(hooks, type_name)
