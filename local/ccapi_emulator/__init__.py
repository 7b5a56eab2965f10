"""A local emulator of the AWS Cloud Control API request surface (AWS JSON 1.0 over HTTP)."""

from ccapi_emulator.backend import EmulatorBackend, RequestView, Snapshot
from ccapi_emulator.clock import Clock
from ccapi_emulator.config import EmulatorConfig
from ccapi_emulator.errors import ApiError
from ccapi_emulator.hooks import HookSpec
from ccapi_emulator.lifecycle import (
    CANCEL_COMPLETE,
    CANCEL_IN_PROGRESS,
    FAILED,
    IN_PROGRESS,
    PENDING,
    SUCCESS,
    Lifecycle,
)
from ccapi_emulator.ratelimit import OPERATION_FAMILIES
from ccapi_emulator.server import EmulatorServer

__all__ = [
    "CANCEL_COMPLETE",
    "CANCEL_IN_PROGRESS",
    "FAILED",
    "IN_PROGRESS",
    "OPERATION_FAMILIES",
    "PENDING",
    "SUCCESS",
    "ApiError",
    "Clock",
    "EmulatorBackend",
    "EmulatorConfig",
    "EmulatorServer",
    "HookSpec",
    "Lifecycle",
    "RequestView",
    "Snapshot",
]
