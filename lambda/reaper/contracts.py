"""Every name the function, the stack, the local stack and the CLI must agree on, written once.

Imported by ``infra/`` (what it creates), ``reaper`` (what it reads and writes), ``local/``
(what it builds for tests and the demo) and the CLI (what it reads). Plain constants only: the
cold path and the CDK app both import this module. docs/DESIGN.md describes each contract.
"""

from __future__ import annotations

from typing import Final

# ---------------------------------------------------------------- the function's environment
ENV_AUDIT_TABLE_NAME: Final = "AUDIT_TABLE_NAME"
ENV_WORK_QUEUE_URL: Final = "WORK_QUEUE_URL"
ENV_DEAD_LETTER_QUEUE_URL: Final = "DEAD_LETTER_QUEUE_URL"
ENV_REAPER_CONFIG: Final = "REAPER_CONFIG"
ENV_TRACE_DISABLED: Final = "POWERTOOLS_TRACE_DISABLED"
# Set only with requireApproval: the SNS topic told of each plan awaiting approval.
ENV_APPROVAL_TOPIC_ARN: Final = "APPROVAL_TOPIC_ARN"
ENV_POWERTOOLS_SERVICE_NAME: Final = "POWERTOOLS_SERVICE_NAME"
ENV_POWERTOOLS_METRICS_NAMESPACE: Final = "POWERTOOLS_METRICS_NAMESPACE"
ENV_POWERTOOLS_LOG_LEVEL: Final = "POWERTOOLS_LOG_LEVEL"
REQUIRED_ENV: Final = (ENV_AUDIT_TABLE_NAME, ENV_WORK_QUEUE_URL, ENV_DEAD_LETTER_QUEUE_URL)

# ---------------------------------------------------------------- the audit table
TABLE_PARTITION_KEY: Final = "pk"
TABLE_SORT_KEY: Final = "sk"
TABLE_TTL_ATTRIBUTE: Final = "expires_at"
TABLE_GSI_NAME: Final = "by-time"
TABLE_GSI_PARTITION_KEY: Final = "gsi1pk"
TABLE_GSI_SORT_KEY: Final = "gsi1sk"
# The by-time index's partition of decisions written ahead of a cancel and not yet replaced by
# their outcome: the next sweep reconciles what it finds there (sparse by construction).
GSI_INTERRUPTED_PARTITION: Final = "INTERRUPTED"

# ---------------------------------------------------------------- EventBridge event formats
CUSTOM_EVENT_SOURCE: Final = "cloudcontrol-reaper"
CUSTOM_EVENT_DETAIL_TYPE: Final = "Cancel Resource Request"
CLOUDTRAIL_EVENT_SOURCE: Final = "aws.cloudcontrolapi"
CLOUDTRAIL_DETAIL_TYPE: Final = "AWS API Call via CloudTrail"
CLOUDTRAIL_API_EVENT_SOURCE: Final = "cloudcontrolapi.amazonaws.com"
CLOUDTRAIL_EVENT_NAMES: Final = ("CreateResource", "UpdateResource", "DeleteResource")
# A Create/Update/DeleteResource call refused because an older request on the same resource
# is still active: its CloudTrail record names the blocked resource (and maybe the token).
CONFLICT_ERROR_CODE: Final = "ConcurrentOperationException"
SCHEDULE_EVENT_SOURCE: Final = "aws.events"
SCHEDULE_DETAIL_TYPE: Final = "Scheduled Event"

# The events the reaper puts on the account's default bus (docs/lambda.md, "Events"). Same
# source as the custom cancel event, other detail types: no rule of the stack matches them.
REAPER_EVENT_SOURCE: Final = CUSTOM_EVENT_SOURCE
DETAIL_TYPE_CANCELLED: Final = "Resource Request Cancelled"
DETAIL_TYPE_CANCEL_FAILED: Final = "Resource Request Cancel Failed"
DETAIL_TYPE_BLOCKING: Final = "Resource Request Blocking"
REAPER_DETAIL_TYPES: Final = (
    DETAIL_TYPE_CANCELLED,
    DETAIL_TYPE_CANCEL_FAILED,
    DETAIL_TYPE_BLOCKING,
)
EVENT_SCHEMA_VERSION: Final = "1"

# ---------------------------------------------------------------- the dead-letter record
DEAD_LETTER_KIND: Final = "reaper.dead-letter"
# 2: a letter carries its delivery id and, for decisions the audit table refused, the
# decisions themselves, so a replay records what happened instead of deciding again.
DEAD_LETTER_VERSION: Final = 2

# ---------------------------------------------------------------- names
STACK_NAME: Final = "CloudControlReaper"
SERVICE_NAME: Final = "cloudcontrol-reaper"
METRICS_NAMESPACE: Final = "CloudControlReaper"

# ---------------------------------------------------------------- an approval message
# {"kind": APPROVAL_KIND, "version": 1, "planId", "approvedBy", "approvedAt"} on the work queue.
APPROVAL_KIND: Final = "reaper.approval"

# ---------------------------------------------------------------- stack outputs
OUTPUT_AUDIT_TABLE_NAME: Final = "AuditTableName"
OUTPUT_WORK_QUEUE_URL: Final = "WorkQueueUrl"
OUTPUT_DEAD_LETTER_QUEUE_URL: Final = "DeadLetterQueueUrl"
OUTPUT_FUNCTION_NAME: Final = "FunctionName"
OUTPUT_ALARM_TOPIC_ARN: Final = "AlarmTopicArn"
OUTPUT_SCHEDULE_RULE_NAME: Final = "ScheduleRuleName"
OUTPUT_CANCEL_RULE_NAME: Final = "CancelRuleName"
OUTPUT_CLOUDTRAIL_RULE_NAME: Final = "CloudTrailRuleName"
OUTPUT_CONFLICT_RULE_NAME: Final = "ConflictRuleName"
OUTPUT_DASHBOARD_NAME: Final = "DashboardName"

# ---------------------------------------------------------------- organization mode
# docs/infrastructure.md, "Organization". A member (one per account and Region, created by
# the management stack's StackSet) forwards the reaper's events to the central bus; the
# central account stores them (ORG_AUDIT_TABLE_NAME) and sends the org kill switch back to
# every member through ORG_CONTROL_TOPIC_NAME (SNS, which retries its deliveries).
ORG_EVENT_SOURCE: Final = "cloudcontrol-reaper.org"
DETAIL_TYPE_ORG_KILL_SWITCH: Final = "Org Kill Switch Set"
DETAIL_TYPE_KILL_SWITCH_CONFIRMED: Final = "Kill Switch Confirmed"
ORG_BUS_NAME: Final = "cc-reaper-org"
ORG_AUDIT_TABLE_NAME: Final = "cc-reaper-org-audit"
ORG_CONTROL_TOPIC_NAME: Final = "cc-reaper-org-control"
ORG_STACK_SET_NAME: Final = "cc-reaper-member"
ORG_MANAGEMENT_STACK_NAME: Final = "CloudControlReaperOrg"
# A member's resources have these physical names (one member per account and Region), so
# the CLI finds them in any account without knowing the StackSet instance's stack name.
ORG_MEMBER_AUDIT_TABLE: Final = "cc-reaper-audit"
ORG_MEMBER_WORK_QUEUE: Final = "cc-reaper-work"
ORG_MEMBER_DEAD_LETTER_QUEUE: Final = "cc-reaper-dead-letters"
ORG_MEMBER_FUNCTION: Final = "cc-reaper"
# Central audit items: pk ORG_DAY_PREFIX + "YYYY-MM-DD", sk "<event time ISO>#<account>#
# <region>#<event id>"; a confirmation also gets pk ORG_CONTROL_PREFIX + commandId,
# sk "<account>#<region>". Attributes: account, region, time, detailType, detail (JSON text).
ORG_DAY_PREFIX: Final = "DAY#"
ORG_CONTROL_PREFIX: Final = "CONTROL#"

# ---------------------------------------------------------------- organization mode: the collector
# The central collector function's environment: the table it writes (ORG_AUDIT_TABLE_NAME)
# and how many days its items live (TTL; default ORG_DEFAULT_RETENTION_DAYS).
ENV_ORG_AUDIT_TABLE_NAME: Final = "ORG_AUDIT_TABLE_NAME"
ENV_ORG_RETENTION_DAYS: Final = "ORG_RETENTION_DAYS"
ORG_DEFAULT_RETENTION_DAYS: Final = 90
# The collector's metrics (EMF, Powertools): the central alarms watch these.
ORG_METRICS_NAMESPACE: Final = "CloudControlReaperOrg"
ORG_METRIC_EVENTS_STORED: Final = "OrgEventsStored"
ORG_METRIC_CANCELS: Final = "OrgCancels"
ORG_METRIC_CANCEL_FAILURES: Final = "OrgCancelFailures"
ORG_METRIC_BLOCKING: Final = "OrgBlocking"
ORG_METRIC_KILL_SWITCH_CONFIRMED: Final = "OrgKillSwitchConfirmed"
ORG_METRIC_EVENTS_NOT_STORED: Final = "OrgEventsNotStored"
ORG_METRIC_EVENTS_INVALID: Final = "OrgEventsInvalid"
# Schema version of the kill switch confirmation's detail.
ORG_CONFIRMATION_SCHEMA_VERSION: Final = "1"

# ---------------------------------------------------------------- the decision pipeline (issue 14)
# The by-time index's partition of SQS-path cancels recorded ``cancelled`` whose follow-up
# message could not be sent: the next sweep follows them to their final state (sparse).
GSI_UNFOLLOWED_PARTITION: Final = "UNFOLLOWED"
# {"kind": FOLLOW_UP_KIND, "version": 1, "requestToken", "source", "deliveryId", "hop",
# "cancelledAt"} on the work queue, delayed: read the cancelled request's status once and
# record what it shows (docs/lambda.md, "Follow-up messages").
FOLLOW_UP_KIND: Final = "reaper.follow-up"
FOLLOW_UP_VERSION: Final = 1
# The by-time index's partition of open-run marks (an item per sweep that claimed requests,
# until its outcomes are recorded): the next sweep reconciles what an ended one left.
GSI_RUNS_PARTITION: Final = "RUNS"

# ---------------------------------------------------------------- organization mode: the work queue
# "schedule": the member has no event source mapping; each scheduled sweep drains the work
# queue (reaper.drain). Unset: the mapping invokes the function (the single-account stack).
ENV_WORK_QUEUE_DRAIN: Final = "WORK_QUEUE_DRAIN"
WORK_QUEUE_DRAIN_SCHEDULE: Final = "schedule"
