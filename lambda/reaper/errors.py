"""Domain errors. Adapters turn botocore's errors into these at the edge; the service never
imports botocore."""

from __future__ import annotations


class ReaperError(Exception):
    """A failure with a stable code (audited, dead-lettered) and a short message."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


class RequestNotFound(ReaperError):
    """Cloud Control does not know the token (never existed, or older than 7 days)."""

    def __init__(self, token: str) -> None:
        super().__init__("RequestTokenNotFoundException", f"no request with token {token[:128]}")


THROTTLING_CODES = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException"})
# Errors that say the call was refused before it did anything; any other failure of a call
# (a timeout, a 5xx) may have been applied with its answer lost.
REFUSED_CODES = THROTTLING_CODES | {
    # Cloud Control's own answer: another operation is modifying the request; not applied.
    "ConcurrentModificationException",
    "AccessDeniedException",
    "ValidationException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
}


class CloudControlError(ReaperError):
    """A Cloud Control call failed after botocore's retries (throttled, 5xx, timeout)."""

    @property
    def refused(self) -> bool:
        return self.code in REFUSED_CODES


class StoreError(ReaperError):
    """The audit table failed after retries."""


class QueueError(ReaperError):
    """Sending to the work queue or the dead-letter queue failed after retries."""


class DeadlineNear(ReaperError):
    """Too little Lambda time is left to start more work safely."""

    def __init__(self) -> None:
        super().__init__("DeadlineNear", "too little time left in this invocation")
