"""One place that reads botocore errors: their code and a short message."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

AWS_ERRORS = (ClientError, BotoCoreError)


def code_and_message(error: ClientError | BotoCoreError) -> tuple[str, str]:
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return str(details.get("Code", "Unknown")), str(details.get("Message", ""))[:1024]
    # Timeouts and connection errors: the class name is the stable code.
    return type(error).__name__, str(error)[:1024]
