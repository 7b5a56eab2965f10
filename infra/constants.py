"""The infrastructure's own names and numbers.

The names the stack shares with the function, the local stack and the CLI (environment
variables, the audit table's keys and index, event sources, stack outputs) are contracts:
they live in ``reaper.contracts`` and are imported from there, never copied here.
"""

from __future__ import annotations

from typing import Final

from reaper import contracts

# Names the function and the CLI share: contracts owns them, the constructs read them here.
STACK_NAME: Final = contracts.STACK_NAME
SERVICE_NAME: Final = contracts.SERVICE_NAME
METRICS_NAMESPACE: Final = contracts.METRICS_NAMESPACE

# The function.
LAMBDA_ASSET_DIR: Final = "lambda"
LAMBDA_HANDLER: Final = "reaper.handler.lambda_handler"
# What the function's code leaves out of lambda/: caches of whichever Python ran there. The
# code ships bytecode all the same, compiled for the runtime at synth (infra/bytecode.py).
LAMBDA_ASSET_EXCLUDES: Final = ("**/__pycache__", "**/*.pyc", "**/.mypy_cache", "**/.pytest_cache")
# The built code's directories in the cloud assembly (cdk.out), one per fingerprint.
LAMBDA_CODE_STAGING_DIR: Final = ".reaper-code"
LOG_LEVEL: Final = "INFO"
FUNCTION_MEMORY_MB: Final = 512

# The Python the function runs on, and the one its tests run on: the Makefile reads this line
# to build the test venv, and tests/packaging/test_versions.py fails when they differ.
PYTHON_VERSION: Final = "3.13"
LAMBDA_RUNTIME: Final = f"python{PYTHON_VERSION}"
LAMBDA_ARCHITECTURE: Final = "arm64"

# Powertools for AWS Lambda (Python): AWS publishes the layer ARN as a public SSM parameter,
# resolved by CloudFormation at deploy time (no Docker, no network at synth). The versioned
# parameter, not "latest": the layer is the Powertools the tests ran, requirements.txt's pin
# (tests/packaging/test_versions.py keeps the two equal).
POWERTOOLS_VERSION: Final = "3.37.0"
POWERTOOLS_LAYER_PARAMETER: Final = (
    f"/aws/service/powertools/python/{LAMBDA_ARCHITECTURE}/{LAMBDA_RUNTIME}/{POWERTOOLS_VERSION}"
)

# Queues.
VISIBILITY_TIMEOUT_FACTOR: Final = 6  # visibility >= 6 x function timeout
WORK_QUEUE_RETENTION_DAYS: Final = 4
DEAD_LETTER_RETENTION_DAYS: Final = 14  # the SQS maximum: time for a human to look
SQS_BATCH_SIZE: Final = 10
SQS_BATCHING_WINDOW_SECONDS: Final = 5

# Asynchronous invocations (the schedule) and EventBridge targets.
ASYNC_RETRY_ATTEMPTS: Final = 2
ASYNC_MAX_EVENT_AGE_MINUTES: Final = 60
RULE_TARGET_RETRY_ATTEMPTS: Final = 8
RULE_TARGET_MAX_EVENT_AGE_HOURS: Final = 24

# The only Cloud Control actions the reaper calls (IAM prefix is cloudformation:).
CLOUD_CONTROL_ACTIONS: Final = (
    "cloudformation:CancelResourceRequest",
    "cloudformation:GetResourceRequestStatus",
    "cloudformation:ListResourceRequests",
)
# What the function does to its audit table's own ARN, and nothing more: no Scan, no
# DeleteItem, no Query (by key lookups only; the operators' CLI queries with its own rights).
AUDIT_TABLE_ACTIONS: Final = (
    "dynamodb:GetItem",  # the kill switch; a delivery's earlier decision
    "dynamodb:BatchGetItem",  # first sightings of a sweep page
    "dynamodb:PutItem",  # decisions and claims (conditional puts)
    "dynamodb:UpdateItem",  # first sighting of one token (if_not_exists)
    "dynamodb:BatchWriteItem",  # first sightings and a sweep's decisions
)
# What the function does to the by-time index (granted on the index ARN only, not the table):
# the next sweep queries its INTERRUPTED partition for decisions written ahead of a cancel and
# never completed, and reconciles them, and its SIGHTINGS partition for the first sightings
# earlier sweeps packed.
AUDIT_INDEX_ACTIONS: Final = ("dynamodb:Query",)

# What the function may do with the events it emits: put them on the default bus, no other.
EVENTS_ACTIONS: Final = ("events:PutEvents",)
DEFAULT_EVENT_BUS: Final = "default"
# verifyLeftovers: Cloud Control's read of one resource (IAM prefix cloudformation:, no
# resource-level ARNs), before the type's own read actions the user lists.
GET_RESOURCE_ACTION: Final = "cloudformation:GetResource"

# Chat delivery (Amazon Q Developer in chat applications, formerly AWS Chatbot).
CHAT_CONFIGURATION_SUFFIX: Final = "-notifications"
KMS_PENDING_WINDOW_DAYS: Final = 7

# Alarms.
ALARM_PERIOD_MINUTES: Final = 5
DURATION_ALARM_FRACTION: Final = 0.8  # alarm when an invocation used 80 % of its timeout
WORK_QUEUE_AGE_ALARM_SECONDS: Final = 3600
# Powertools metric of the reaper (lambda/reaper/observability.py), dimension "service".
FAILED_METRIC_NAME: Final = "Failed"

# Organization mode (infra/org/): the central stack's name is a contract.
ORG_MANAGEMENT_STACK_NAME: Final = contracts.ORG_MANAGEMENT_STACK_NAME
# The central bus's archive: named, as a generated name may pass the API's 48 characters.
ORG_ARCHIVE_NAME: Final = "cc-reaper-org-events"
