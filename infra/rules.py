"""EventBridge: the sweep schedule, custom cancel events and Cloud Control calls via CloudTrail.

No rule here matches the reaper's own events (source ``cloudcontrol-reaper`` with the detail
types of ``contracts.REAPER_DETAIL_TYPES``): the cancel rule names its one detail type, the
CloudTrail rules name AWS's source. tests/infrastructure/test_infra_no_loop.py puts each of
them through EventBridge (moto's) to prove it.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct
from reaper import contracts

from infra import constants as c
from infra.queues import ReaperQueues


class ReaperRules(Construct):
    """Four rules on the default bus; no event is dropped on the way to the reaper.

    Events go to the work queue rather than to the function: SQS gives them durability,
    partial batch responses and redrive. A delivery EventBridge cannot make after its
    retries lands in the DLQ, which the reaper can replay.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        queues: ReaperQueues,
        schedule: str,
    ) -> None:
        super().__init__(scope, construct_id)
        dlq = queues.dead_letter_queue
        attempts = c.RULE_TARGET_RETRY_ATTEMPTS
        max_age = Duration.hours(c.RULE_TARGET_MAX_EVENT_AGE_HOURS)

        self.schedule_rule = events.Rule(
            self,
            "ScheduleRule",
            description="Sweep: list Cloud Control requests and cancel the stale ones",
            schedule=events.Schedule.expression(schedule),
            targets=[
                targets.LambdaFunction(
                    function, dead_letter_queue=dlq, retry_attempts=attempts, max_event_age=max_age
                )
            ],
        )
        # One target object for the event rules: same queue, same retries, same DLQ.
        to_work_queue = targets.SqsQueue(
            queues.work_queue, dead_letter_queue=dlq, retry_attempts=attempts, max_event_age=max_age
        )
        self.cancel_rule = events.Rule(
            self,
            "CancelRule",
            description="Cancel Cloud Control requests named in a custom event",
            event_pattern=events.EventPattern(
                source=[contracts.CUSTOM_EVENT_SOURCE],
                detail_type=[contracts.CUSTOM_EVENT_DETAIL_TYPE],
            ),
            targets=[to_work_queue],
        )
        # Both CloudTrail rules need a trail logging management events in the account and
        # Region; without one they never fire and the sweep still finds every request.
        cloud_control_calls = {
            "eventSource": [contracts.CLOUDTRAIL_API_EVENT_SOURCE],
            "eventName": list(contracts.CLOUDTRAIL_EVENT_NAMES),
        }
        # Successful calls only: a record with an errorCode started no request to watch, and
        # a refused one belongs to the conflict rule alone (one delivery per record).
        self.cloudtrail_rule = events.Rule(
            self,
            "CloudTrailRule",
            description="Watch Cloud Control requests as CloudTrail records their creation",
            event_pattern=events.EventPattern(
                source=[contracts.CLOUDTRAIL_EVENT_SOURCE],
                detail_type=[contracts.CLOUDTRAIL_DETAIL_TYPE],
                detail={**cloud_control_calls, "errorCode": [{"exists": False}]},
            ),
            targets=[to_work_queue],
        )
        # A call refused because an older request on the same resource is still active: the
        # record names the blocked resource (and maybe the blocking token), a deployment is
        # waiting on it now. blockingThresholdMinutes decides how soon it may be cancelled.
        self.conflict_rule = events.Rule(
            self,
            "ConflictRule",
            description="Find the request blocking a Cloud Control call refused with "
            "ConcurrentOperationException",
            event_pattern=events.EventPattern(
                source=[contracts.CLOUDTRAIL_EVENT_SOURCE],
                detail_type=[contracts.CLOUDTRAIL_DETAIL_TYPE],
                detail={**cloud_control_calls, "errorCode": [contracts.CONFLICT_ERROR_CODE]},
            ),
            targets=[to_work_queue],
        )
