"""The CLI's own error: one line for the operator, and the exit status to leave with."""

from __future__ import annotations

from botocore.exceptions import (
    ClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

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


CREDENTIALS_HINT = "use --profile, AWS_PROFILE or the usual environment variables"
NO_CREDENTIALS = f"no AWS credentials: {CREDENTIALS_HINT}"
NO_REGION = "no AWS Region: use --region, AWS_REGION or AWS_DEFAULT_REGION, or a profile's region"


def aws_setup_line(error: BaseException) -> str | None:
    """The one line for credentials or a Region missing, wherever botocore raised it: at a
    client (describe_stacks) or inside an adapter, which wraps it in a domain error (``raise
    StoreError(...) from exc``). None when the error is something else."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, NoCredentialsError):
            return NO_CREDENTIALS
        if isinstance(cause, PartialCredentialsError):
            return f"incomplete AWS credentials ({cause}): {CREDENTIALS_HINT}"
        if isinstance(cause, NoRegionError):
            return NO_REGION
        cause = cause.__cause__ or cause.__context__
    return None
