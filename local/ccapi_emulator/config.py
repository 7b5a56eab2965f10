"""The emulator's knobs, in one frozen value that :meth:`EmulatorBackend.configure` replaces."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ccapi_emulator.cloudtrail import DEFAULT_PRINCIPAL_ARN
from ccapi_emulator.conflicts import (
    CONFLICT_MESSAGE_MODES,
    CONFLICT_MODES,
    DEFAULT_IDENTIFIER_PROPERTIES,
    LEFTOVER_MODES,
)
from ccapi_emulator.hooks import HookSpec, parse_hooks
from ccapi_emulator.lifecycle import Lifecycle

SEVEN_DAYS = 7 * 24 * 3600.0

# Knobs that configure() may change at run time (the rest are fixed when the backend is made).
RUNTIME_KNOBS = frozenset(
    {
        "latency_ms",
        "rate_per_second",
        "account_rate_per_second",
        "burst_seconds",
        "throttle_probability",
        "internal_failure_probability",
        "concurrent_modification_probability",
        "cancel_complete_after_seconds",
        "default_lifecycle",
        "retention_seconds",
        "cursor",
        "listing_lag_seconds",
        "finished_cancel",
        "missing_type_name",
        "missing_type_name_fraction",
        "conflicts",
        "conflict_message",
        "identifier_properties",
        "cancelled_create_leaves",
        "hooks",
        "record_cloudtrail",
        "cloudtrail_principal_arn",
    }
)

# Behaviours the API reference leaves open: the allowed values of each mode knob, the first being
# the default (today's behaviour). See docs/emulator.md, "Modes".
CURSOR_MODES: tuple[str, ...] = ("opaque", "positional")
FINISHED_CANCEL_MODES: tuple[str, ...] = ("status", "concurrent-modification", "invalid-request")
MISSING_TYPE_NAME_MODES: tuple[str, ...] = ("none", "list", "all")

# One knob set per non-default mode, for running a suite under each plausible behaviour in turn
# (e.g. ``pytest.mark.parametrize("mode", ALTERNATE_MODES)`` then ``backend.configure(**mode)``).
ALTERNATE_MODES: tuple[Mapping[str, Any], ...] = (
    {"cursor": "positional"},
    {"listing_lag_seconds": 30.0},
    {"finished_cancel": "concurrent-modification"},
    {"finished_cancel": "invalid-request"},
    {"missing_type_name": "list", "missing_type_name_fraction": 0.5},
    {"missing_type_name": "all", "missing_type_name_fraction": 0.5},
    {"conflict_message": "without-token"},
    {"cancelled_create_leaves": "resource"},
)


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything a test or a benchmark may turn.

    rate_per_second: one token bucket per operation family (see ``OPERATION_FAMILIES``);
    account_rate_per_second: one more bucket that every call draws from. None disables either.
    Each bucket holds ``burst_seconds`` worth of tokens (at least one).

    The mode knobs (cursor, listing_lag_seconds, finished_cancel, missing_type_name and its
    fraction) choose among behaviours the API reference leaves open; their defaults are the
    emulator's original behaviour.

    conflicts ("refuse"/"allow"), conflict_message, identifier_properties: see ``conflicts.py``;
    cancelled_create_leaves: "nothing" or "resource", or ``{glob: mode}``; hooks:
    ``{glob: HookSpec}`` (see ``hooks.py``); record_cloudtrail: keep a CloudTrail record of every
    write call served (``EmulatorBackend.cloudtrail_events()``).
    """

    manual_clock: bool = False
    start_time: float | None = None
    latency_ms: float = 0.0
    rate_per_second: float | None = 25.0
    account_rate_per_second: float | None = None
    burst_seconds: float = 1.0
    throttle_probability: float = 0.0
    internal_failure_probability: float = 0.0
    concurrent_modification_probability: float = 0.0
    cancel_complete_after_seconds: float = 5.0
    default_lifecycle: Lifecycle = field(default_factory=Lifecycle.succeed)
    lifecycles: Mapping[str, Lifecycle] = field(default_factory=dict)
    retention_seconds: float = SEVEN_DAYS
    random_seed: int | None = None
    cursor: str = "opaque"
    listing_lag_seconds: float = 0.0
    finished_cancel: str = "status"
    missing_type_name: str = "none"
    missing_type_name_fraction: float = 1.0
    conflicts: str = "refuse"
    conflict_message: str = "with-token"
    identifier_properties: Mapping[str, str] = field(
        default_factory=lambda: dict(DEFAULT_IDENTIFIER_PROPERTIES)
    )
    cancelled_create_leaves: str | Mapping[str, str] = "nothing"
    hooks: Mapping[str, HookSpec] = field(default_factory=dict)
    record_cloudtrail: bool = False
    cloudtrail_principal_arn: str = DEFAULT_PRINCIPAL_ARN

    def __post_init__(self) -> None:
        for name, allowed in (
            ("cursor", CURSOR_MODES),
            ("finished_cancel", FINISHED_CANCEL_MODES),
            ("missing_type_name", MISSING_TYPE_NAME_MODES),
            ("conflicts", CONFLICT_MODES),
            ("conflict_message", CONFLICT_MESSAGE_MODES),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"{name} must be one of {', '.join(allowed)}, not {getattr(self, name)!r}"
                )
        self._check_resource_knobs()
        lag = self.listing_lag_seconds
        if not _is_number(lag) or not 0.0 <= lag < math.inf:
            raise ValueError(f"listing_lag_seconds must be a number >= 0, not {lag!r}")
        fraction = self.missing_type_name_fraction
        if not _is_number(fraction) or not 0.0 <= fraction <= 1.0:
            raise ValueError(
                f"missing_type_name_fraction must be between 0 and 1, not {fraction!r}"
            )
        for name in (
            "throttle_probability",
            "internal_failure_probability",
            "concurrent_modification_probability",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        for name in ("rate_per_second", "account_rate_per_second"):
            rate = getattr(self, name)
            if rate is not None and rate <= 0:
                raise ValueError(f"{name} must be positive, or None to disable it")
        if self.latency_ms < 0 or self.cancel_complete_after_seconds < 0 or self.burst_seconds <= 0:
            raise ValueError("latency_ms and cancel_complete_after_seconds must be >= 0, burst > 0")

    def _check_resource_knobs(self) -> None:
        leaves = self.cancelled_create_leaves
        modes = [leaves] if isinstance(leaves, str) else None
        if isinstance(leaves, Mapping):
            modes = list(leaves.values())
        if modes is None or any(mode not in LEFTOVER_MODES for mode in modes):
            raise ValueError(
                "cancelled_create_leaves must be nothing or resource, or map TypeName globs to "
                f"them, not {leaves!r}"
            )
        properties = self.identifier_properties
        if not isinstance(properties, Mapping) or not all(
            isinstance(v, str) and v for v in properties.values()
        ):
            raise ValueError("identifier_properties must map TypeName globs to property names")
        # Hooks may be given as dicts (as over HTTP): keep them as HookSpec values.
        object.__setattr__(self, "hooks", parse_hooks(self.hooks))
        if not isinstance(self.record_cloudtrail, bool):
            raise ValueError(
                f"record_cloudtrail must be true or false, not {self.record_cloudtrail!r}"
            )
        if not isinstance(self.cloudtrail_principal_arn, str):
            raise ValueError("cloudtrail_principal_arn must be a string")

    def replace(self, **changes: Any) -> EmulatorConfig:
        unknown = set(changes) - RUNTIME_KNOBS
        if unknown:
            raise ValueError(f"not a run-time knob: {', '.join(sorted(unknown))}")
        if isinstance(changes.get("default_lifecycle"), Mapping):
            changes["default_lifecycle"] = Lifecycle.from_dict(changes["default_lifecycle"])
        if changes.get("hooks", ()) is None:
            changes["hooks"] = {}
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["default_lifecycle"] = self.default_lifecycle.to_dict()
        data["lifecycles"] = {glob: lc.to_dict() for glob, lc in self.lifecycles.items()}
        data["hooks"] = {glob: spec.to_dict() for glob, spec in self.hooks.items()}
        data["identifier_properties"] = dict(self.identifier_properties)
        leaves = self.cancelled_create_leaves
        data["cancelled_create_leaves"] = leaves if isinstance(leaves, str) else dict(leaves)
        return data


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
