"""The CLI's own error: one line for the operator, and the exit status to leave with."""

from __future__ import annotations

from botocore.exceptions import ClientError

USAGE = 2
FAILURE = 1
# Looked for something that is not there (``unblock``: no active request on the resource).
NOTHING_FOUND = 3


class CliError(Exception):
    def __init__(self, message: str, exit_code: int = FAILURE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def client_error_line(error: ClientError) -> str:
    """``Operation: Code: message`` on one line; an HTML error page (an endpoint that does not
    implement the call, e.g. moto) is named as such instead of being printed."""
    details = error.response.get("Error", {})
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    message = " ".join(str(details.get("Message", "")).split())
    if message.startswith("<"):
        message = f"HTTP {status} with an HTML page, not an AWS error (API not implemented?)"
    return f"{error.operation_name}: {details.get('Code', 'Unknown')}: {message[:300]}"
