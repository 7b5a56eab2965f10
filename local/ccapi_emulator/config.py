"""The emulator's knobs, in one frozen value that :meth:`EmulatorBackend.configure` replaces."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

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
    }
)


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything a test or a benchmark may turn.

    rate_per_second: one token bucket per operation family (see ``OPERATION_FAMILIES``);
    account_rate_per_second: one more bucket that every call draws from. None disables either.
    Each bucket holds ``burst_seconds`` worth of tokens (at least one).
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

    def __post_init__(self) -> None:
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

    def replace(self, **changes: Any) -> EmulatorConfig:
        unknown = set(changes) - RUNTIME_KNOBS
        if unknown:
            raise ValueError(f"not a run-time knob: {', '.join(sorted(unknown))}")
        if isinstance(changes.get("default_lifecycle"), Mapping):
            changes["default_lifecycle"] = Lifecycle.from_dict(changes["default_lifecycle"])
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["default_lifecycle"] = self.default_lifecycle.to_dict()
        data["lifecycles"] = {glob: lc.to_dict() for glob, lc in self.lifecycles.items()}
        return data
