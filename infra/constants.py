"""Every name the infrastructure, its tests and the local deployer agree on, in one place."""

from __future__ import annotations

from typing import Final

# Stack naming: one stack per target environment; the suffix only when there are several.
STACK_NAME: Final = "CloudControlReaper"

# The function (contract: docs/DESIGN.md).
LAMBDA_ASSET_DIR: Final = "lambda"
LAMBDA_HANDLER: Final = "reaper.handler.lambda_handler"
LAMBDA_ASSET_EXCLUDES: Final = ("**/__pycache__", "**/*.pyc", "**/.mypy_cache", "**/.pytest_cache")
SERVICE_NAME: Final = "cloudcontrol-reaper"
METRICS_NAMESPACE: Final = "CloudControlReaper"
LOG_LEVEL: Final = "INFO"
FUNCTION_MEMORY_MB: Final = 512

# Powertools for AWS Lambda (Python): AWS publishes the layer ARN as a public SSM parameter,
# resolved by CloudFormation at deploy time (no Docker, no network at synth).
POWERTOOLS_LAYER_PARAMETER: Final = "/aws/service/powertools/python/arm64/python3.14/latest"

# Environment variables of the function (contract: docs/DESIGN.md).
ENV_AUDIT_TABLE_NAME: Final = "AUDIT_TABLE_NAME"
ENV_WORK_QUEUE_URL: Final = "WORK_QUEUE_URL"
ENV_DEAD_LETTER_QUEUE_URL: Final = "DEAD_LETTER_QUEUE_URL"
ENV_REAPER_CONFIG: Final = "REAPER_CONFIG"
ENV_POWERTOOLS_SERVICE_NAME: Final = "POWERTOOLS_SERVICE_NAME"
ENV_POWERTOOLS_METRICS_NAMESPACE: Final = "POWERTOOLS_METRICS_NAMESPACE"
ENV_POWERTOOLS_LOG_LEVEL: Final = "POWERTOOLS_LOG_LEVEL"

# Audit table (contract: docs/DESIGN.md).
TABLE_PARTITION_KEY: Final = "pk"
TABLE_SORT_KEY: Final = "sk"
TABLE_TTL_ATTRIBUTE: Final = "expires_at"
TABLE_GSI_NAME: Final = "by-time"
TABLE_GSI_PARTITION_KEY: Final = "gsi1pk"
TABLE_GSI_SORT_KEY: Final = "gsi1sk"

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

# EventBridge event formats (contract: docs/DESIGN.md).
CUSTOM_EVENT_SOURCE: Final = "cloudcontrol-reaper"
CUSTOM_EVENT_DETAIL_TYPE: Final = "Cancel Resource Request"
CLOUDTRAIL_EVENT_SOURCE: Final = "aws.cloudcontrolapi"
CLOUDTRAIL_DETAIL_TYPE: Final = "AWS API Call via CloudTrail"
CLOUDTRAIL_API_EVENT_SOURCE: Final = "cloudcontrolapi.amazonaws.com"
CLOUDTRAIL_EVENT_NAMES: Final = ("CreateResource", "UpdateResource", "DeleteResource")

# The only Cloud Control actions the reaper calls (IAM prefix is cloudformation:).
CLOUD_CONTROL_ACTIONS: Final = (
    "cloudformation:CancelResourceRequest",
    "cloudformation:GetResourceRequestStatus",
    "cloudformation:ListResourceRequests",
)
# What the function does to its audit table, and nothing more: no Scan, no DeleteItem, no
# Query (the audit queries on the by-time index are the operators' CLI, not the function's).
AUDIT_TABLE_ACTIONS: Final = (
    "dynamodb:GetItem",  # the kill switch; a delivery's earlier decision
    "dynamodb:BatchGetItem",  # first sightings of a sweep page
    "dynamodb:PutItem",  # decisions and claims (conditional puts)
    "dynamodb:UpdateItem",  # first sighting of one token (if_not_exists)
    "dynamodb:BatchWriteItem",  # first sightings and a sweep's decisions
)

# Alarms.
ALARM_PERIOD_MINUTES: Final = 5
DURATION_ALARM_FRACTION: Final = 0.8  # alarm when an invocation used 80 % of its timeout
WORK_QUEUE_AGE_ALARM_SECONDS: Final = 3600
# Powertools metric of the reaper (lambda/reaper/observability.py), dimension "service".
FAILED_METRIC_NAME: Final = "Failed"

# Stack outputs (read by the CLI, the local deployer and the tests).
OUTPUT_AUDIT_TABLE_NAME: Final = "AuditTableName"
OUTPUT_WORK_QUEUE_URL: Final = "WorkQueueUrl"
OUTPUT_DEAD_LETTER_QUEUE_URL: Final = "DeadLetterQueueUrl"
OUTPUT_FUNCTION_NAME: Final = "FunctionName"
OUTPUT_ALARM_TOPIC_ARN: Final = "AlarmTopicArn"
OUTPUT_SCHEDULE_RULE_NAME: Final = "ScheduleRuleName"
OUTPUT_CANCEL_RULE_NAME: Final = "CancelRuleName"
OUTPUT_CLOUDTRAIL_RULE_NAME: Final = "CloudTrailRuleName"
OUTPUT_DASHBOARD_NAME: Final = "DashboardName"
