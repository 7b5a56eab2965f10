"""Errors the emulator answers with: AWS's codes, HTTP statuses and JSON 1.0 bodies."""

from __future__ import annotations

from typing import Any

ERROR_NAMESPACE = "com.amazonaws.cloudcontrolapi"


class ApiError(Exception):
    """An error response. ``code`` is what botocore shows as ``Error.Code``."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status

    def body(self) -> dict[str, Any]:
        return {"__type": f"{ERROR_NAMESPACE}#{self.code}", "message": self.message}


def validation_error(problems: list[str]) -> ApiError:
    count = len(problems)
    noun = "error" if count == 1 else "errors"
    return ApiError(
        "ValidationException", f"{count} validation {noun} detected: " + "; ".join(problems)
    )


def token_not_found(token: str) -> ApiError:
    return ApiError("RequestTokenNotFoundException", f"Request with token {token} was not found")


def throttled() -> ApiError:
    return ApiError("ThrottlingException", "Rate exceeded")


def internal_failure() -> ApiError:
    return ApiError("InternalFailure", "An internal error occurred (injected by the emulator)", 500)


def concurrent_modification() -> ApiError:
    return ApiError(
        "ConcurrentModificationException",
        "The resource is currently being modified by another operation (injected by the emulator)",
        500,
    )


def finished_cancel_conflict(token: str, status: str) -> ApiError:
    """``finished_cancel="concurrent-modification"``: the modelled 500, which botocore retries."""
    return ApiError(
        "ConcurrentModificationException",
        f"Request with token {token} is {status} and can no longer be cancelled",
        500,
    )


def not_cancellable(token: str, status: str) -> ApiError:
    """``finished_cancel="invalid-request"``: a 400 with a code Cancel does not model."""
    return ApiError(
        "InvalidRequestException",
        f"Request with token {token} is {status}: only PENDING or IN_PROGRESS requests can be "
        "cancelled",
    )
