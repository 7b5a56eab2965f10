"""The synthesized template has the properties the issue asks for, not just the resources."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Match
from reaper import contracts
from reaper.config import ReaperConfig

from .conftest import DEFAULT_BUS_ARN, Synthesized

DEFAULT_TIMEOUT_SECONDS = 300
CLOUD_CONTROL_CALLS = {
    "eventSource": ["cloudcontrolapi.amazonaws.com"],
    "eventName": ["CreateResource", "UpdateResource", "DeleteResource"],
}


def _ref_or_getatt_id(value: dict[str, Any]) -> str:
    if "Ref" in value:
        return str(value["Ref"])
    return str(value["Fn::GetAtt"][0])


def _queues(synthesized: Synthesized) -> tuple[str, dict[str, Any], str, dict[str, Any]]:
    queues = synthesized.resources("AWS::SQS::Queue")
    work = {k: v for k, v in queues.items() if "RedrivePolicy" in v["Properties"]}
    dead = {k: v for k, v in queues.items() if "RedrivePolicy" not in v["Properties"]}
    assert len(work) == 1 and len(dead) == 1, sorted(queues)
    (work_id, work_q), (dlq_id, dlq) = next(iter(work.items())), next(iter(dead.items()))
    return work_id, work_q, dlq_id, dlq


def _statements(synthesized: Synthesized) -> list[dict[str, Any]]:
    _, policy = synthesized.only("AWS::IAM::Policy")
    return list(policy["Properties"]["PolicyDocument"]["Statement"])


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


# Queues ---------------------------------------------------------------------------------


def test_both_queues_are_encrypted_at_rest_with_sse_sqs(synthesized: Synthesized) -> None:
    _, work, _, dlq = _queues(synthesized)
    assert work["Properties"]["SqsManagedSseEnabled"] is True
    assert dlq["Properties"]["SqsManagedSseEnabled"] is True


def test_work_queue_redrives_to_the_dlq_after_max_receive_count(synthesized: Synthesized) -> None:
    _, work, dlq_id, _ = _queues(synthesized)
    redrive = work["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": [dlq_id, "Arn"]}
    assert redrive["maxReceiveCount"] == ReaperConfig().max_receive_count == 5


def test_work_queue_visibility_is_six_times_the_function_timeout(synthesized: Synthesized) -> None:
    _, work, _, dlq = _queues(synthesized)
    _, function = synthesized.only("AWS::Lambda::Function")
    timeout = function["Properties"]["Timeout"]
    assert timeout == DEFAULT_TIMEOUT_SECONDS
    assert work["Properties"]["VisibilityTimeout"] == 6 * timeout
    assert dlq["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_every_queue_policy_denies_requests_without_tls(synthesized: Synthesized) -> None:
    _, _, dlq_id, _ = _queues(synthesized)
    work_id = _queues(synthesized)[0]
    secured = set()
    for policy in synthesized.resources("AWS::SQS::QueuePolicy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement == {
                "Action": "sqs:*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Resource": statement["Resource"],
            }:
                secured.update(_ref_or_getatt_id(q) for q in policy["Properties"]["Queues"])
    assert secured == {work_id, dlq_id}


def test_eventbridge_may_send_to_the_queues_only_from_the_reapers_rules(
    synthesized: Synthesized,
) -> None:
    rule_ids = set(synthesized.resources("AWS::Events::Rule"))
    grants = [
        statement
        for policy in synthesized.resources("AWS::SQS::QueuePolicy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement.get("Principal") == {"Service": "events.amazonaws.com"}
    ]
    assert grants
    for statement in grants:
        assert statement["Effect"] == "Allow"
        assert set(_actions(statement)) <= {
            "sqs:SendMessage",
            "sqs:GetQueueAttributes",
            "sqs:GetQueueUrl",
        }
        source = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
        assert source["Fn::GetAtt"][0] in rule_ids


# Audit table ------------------------------------------------------------------------------


def test_audit_table_has_the_design_keys_index_and_ttl(synthesized: Synthesized) -> None:
    synthesized.template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": "by-time",
                    "KeySchema": [
                        {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                        {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
            "BillingMode": "PAY_PER_REQUEST",
        },
    )


def test_audit_table_is_encrypted_recoverable_and_survives_destroy(
    synthesized: Synthesized,
) -> None:
    synthesized.template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": Match.object_like(
                {
                    "SSESpecification": {"SSEEnabled": True},
                    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                    "DeletionProtectionEnabled": True,
                }
            ),
        },
    )
    assert not synthesized.resources("AWS::DynamoDB::GlobalTable")


# Function ---------------------------------------------------------------------------------


def test_function_runtime_architecture_tracing_and_layer(synthesized: Synthesized) -> None:
    _, function = synthesized.only("AWS::Lambda::Function")
    props = function["Properties"]
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == "reaper.handler.lambda_handler"
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["RecursiveLoop"] == "Allow"
    (layer,) = props["Layers"]
    parameter = synthesized.template_json["Parameters"][layer["Ref"]]
    assert parameter == {
        "Type": "AWS::SSM::Parameter::Value<String>",
        "Default": "/aws/service/powertools/python/arm64/python3.13/3.37.0",
    }


def test_function_code_is_the_lambda_folder_from_the_bootstrap_bucket(
    synthesized: Synthesized,
) -> None:
    _, function = synthesized.only("AWS::Lambda::Function")
    code = function["Properties"]["Code"]
    assert code["S3Bucket"] == {"Fn::Sub": "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}"}
    asset_dir = synthesized.outdir / f"asset.{code['S3Key'].removesuffix('.zip')}"
    assert (asset_dir / "reaper" / "config.py").is_file()
    # With the runtime's bytecode next to it (infra/bytecode.py; tests/packaging/test_bytecode.py)
    assert (asset_dir / "reaper" / "__pycache__" / "config.cpython-313.pyc").is_file()


def test_function_environment_is_exactly_the_design_contract(synthesized: Synthesized) -> None:
    _, function = synthesized.only("AWS::Lambda::Function")
    variables = function["Properties"]["Environment"]["Variables"]
    work_id, _, dlq_id, _ = _queues(synthesized)
    table_id, _ = synthesized.only("AWS::DynamoDB::Table")
    assert set(variables) == {
        "AUDIT_TABLE_NAME",
        "WORK_QUEUE_URL",
        "DEAD_LETTER_QUEUE_URL",
        "REAPER_CONFIG",
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_LOG_LEVEL",
    }
    assert variables["AUDIT_TABLE_NAME"] == {"Ref": table_id}
    assert variables["WORK_QUEUE_URL"] == {"Ref": work_id}
    assert variables["DEAD_LETTER_QUEUE_URL"] == {"Ref": dlq_id}
    assert variables["POWERTOOLS_SERVICE_NAME"] == "cloudcontrol-reaper"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "CloudControlReaper"
    assert variables["POWERTOOLS_LOG_LEVEL"] == "INFO"
    # cdk.json's defaults are the model's defaults, and the function can read them back.
    assert ReaperConfig.model_validate_json(variables["REAPER_CONFIG"]) == ReaperConfig()


def test_function_logs_to_its_own_group_with_retention(synthesized: Synthesized) -> None:
    log_group_id, log_group = synthesized.only("AWS::Logs::LogGroup")
    _, function = synthesized.only("AWS::Lambda::Function")
    assert log_group["Properties"]["RetentionInDays"] == 30
    assert function["Properties"]["LoggingConfig"] == {"LogGroup": {"Ref": log_group_id}}


def test_concurrency_keeps_the_cloud_control_rate(synthesized: Synthesized) -> None:
    _, function = synthesized.only("AWS::Lambda::Function")
    _, mapping = synthesized.only("AWS::Lambda::EventSourceMapping")
    max_concurrency = ReaperConfig().max_concurrency
    assert function["Properties"]["ReservedConcurrentExecutions"] == max_concurrency
    sqs_concurrency = mapping["Properties"]["ScalingConfig"]["MaximumConcurrency"]
    assert 2 <= sqs_concurrency <= max_concurrency


def test_event_source_mapping_reports_partial_batch_failures(synthesized: Synthesized) -> None:
    work_id, _, _, _ = _queues(synthesized)
    _, mapping = synthesized.only("AWS::Lambda::EventSourceMapping")
    props = mapping["Properties"]
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["EventSourceArn"] == {"Fn::GetAtt": [work_id, "Arn"]}
    assert props["BatchSize"] == 10


def test_async_invocations_retry_then_land_in_the_dlq(synthesized: Synthesized) -> None:
    _, _, dlq_id, _ = _queues(synthesized)
    function_id, _ = synthesized.only("AWS::Lambda::Function")
    _, config = synthesized.only("AWS::Lambda::EventInvokeConfig")
    assert config["Properties"] == {
        "FunctionName": {"Ref": function_id},
        "Qualifier": "$LATEST",
        "MaximumRetryAttempts": 2,
        "MaximumEventAgeInSeconds": 3600,
        "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [dlq_id, "Arn"]}}},
    }


# IAM --------------------------------------------------------------------------------------


def test_role_has_no_managed_policies_and_trusts_only_lambda(synthesized: Synthesized) -> None:
    _, role = synthesized.only("AWS::IAM::Role")
    assert "ManagedPolicyArns" not in role["Properties"]
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}


def test_only_cloud_control_and_xray_actions_are_granted_on_star(
    synthesized: Synthesized,
) -> None:
    on_star = sorted(
        action
        for statement in _statements(synthesized)
        if statement["Resource"] == "*"
        for action in _actions(statement)
    )
    assert on_star == sorted(
        [
            "cloudformation:CancelResourceRequest",
            "cloudformation:GetResourceRequestStatus",
            "cloudformation:ListResourceRequests",
            "xray:PutTelemetryRecords",
            "xray:PutTraceSegments",
        ]
    )


def test_role_grants_exactly_the_actions_the_reaper_needs(synthesized: Synthesized) -> None:
    work_id, _, dlq_id, _ = _queues(synthesized)
    table_id, _ = synthesized.only("AWS::DynamoDB::Table")
    log_group_id, _ = synthesized.only("AWS::Logs::LogGroup")
    by_resource: dict[str, set[str]] = {}
    for statement in _statements(synthesized):
        assert statement["Effect"] == "Allow"
        resources = statement["Resource"]
        for resource in resources if isinstance(resources, list) else [resources]:
            key = json.dumps(resource, sort_keys=True)
            by_resource.setdefault(key, set()).update(_actions(statement))

    def arn(logical_id: str) -> str:
        return json.dumps({"Fn::GetAtt": [logical_id, "Arn"]}, sort_keys=True)

    send = {"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}
    consume = {"sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage"}
    assert by_resource[arn(dlq_id)] == send
    assert by_resource[arn(work_id)] == send | consume
    assert by_resource[arn(log_group_id)] == {"logs:CreateLogStream", "logs:PutLogEvents"}
    table_actions = by_resource[arn(table_id)]
    assert table_actions == {
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:BatchWriteItem",
    }
    # The sweep's reconciliation of interrupted cancels queries the by-time index, and only it.
    by_time_index = json.dumps(
        {"Fn::Join": ["", [{"Fn::GetAtt": [table_id, "Arn"]}, "/index/by-time"]]}, sort_keys=True
    )
    assert by_resource[by_time_index] == {"dynamodb:Query"}
    # emitEvents (on in cdk.json): PutEvents on the account's default bus, nothing else there.
    default_bus = json.dumps(DEFAULT_BUS_ARN, sort_keys=True)
    assert by_resource[default_bus] == {"events:PutEvents"}
    assert len(by_resource) == 7  # the six above and "*"


# EventBridge ------------------------------------------------------------------------------


def _rule(synthesized: Synthesized, predicate: Any) -> dict[str, Any]:
    (rule,) = [
        r["Properties"]
        for r in synthesized.resources("AWS::Events::Rule").values()
        if predicate(r["Properties"])
    ]
    return rule


def test_schedule_rule_invokes_the_function_with_retries_and_dlq(synthesized: Synthesized) -> None:
    function_id, _ = synthesized.only("AWS::Lambda::Function")
    _, _, dlq_id, _ = _queues(synthesized)
    rule = _rule(synthesized, lambda p: "ScheduleExpression" in p)
    assert rule["ScheduleExpression"] == "rate(15 minutes)"
    assert rule["State"] == "ENABLED"
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dlq_id, "Arn"]}}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 86400}
    synthesized.template.has_resource_properties(
        "AWS::Lambda::Permission",
        {"Action": "lambda:InvokeFunction", "Principal": "events.amazonaws.com"},
    )


def test_custom_cancel_events_go_to_the_work_queue(synthesized: Synthesized) -> None:
    work_id, _, dlq_id, _ = _queues(synthesized)
    rule = _rule(
        synthesized, lambda p: p.get("EventPattern", {}).get("source") == ["cloudcontrol-reaper"]
    )
    assert rule["EventPattern"] == {
        "source": ["cloudcontrol-reaper"],
        "detail-type": ["Cancel Resource Request"],
    }
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [work_id, "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dlq_id, "Arn"]}}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 8


def _cloudtrail_rule(synthesized: Synthesized, error_code: Any) -> dict[str, Any]:
    return _rule(
        synthesized,
        lambda p: (
            p.get("EventPattern", {}).get("source") == ["aws.cloudcontrolapi"]
            and p["EventPattern"]["detail"].get("errorCode") == error_code
        ),
    )


def test_successful_cloudtrail_cloud_control_calls_go_to_the_work_queue(
    synthesized: Synthesized,
) -> None:
    work_id, _, dlq_id, _ = _queues(synthesized)
    # Only records without an errorCode: a refused call started no request to watch.
    rule = _cloudtrail_rule(synthesized, [{"exists": False}])
    assert rule["EventPattern"] == {
        "source": ["aws.cloudcontrolapi"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {**CLOUD_CONTROL_CALLS, "errorCode": [{"exists": False}]},
    }
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [work_id, "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dlq_id, "Arn"]}}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 86400}


def test_calls_refused_for_a_concurrent_operation_go_to_the_work_queue_by_their_own_rule(
    synthesized: Synthesized,
) -> None:
    work_id, _, dlq_id, _ = _queues(synthesized)
    rule = _cloudtrail_rule(synthesized, [contracts.CONFLICT_ERROR_CODE])
    assert rule["EventPattern"] == {
        "source": ["aws.cloudcontrolapi"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {**CLOUD_CONTROL_CALLS, "errorCode": ["ConcurrentOperationException"]},
    }
    # The way the successful calls go: the work queue, same retries, same DLQ.
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [work_id, "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dlq_id, "Arn"]}}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 86400}
    conflict_id = next(
        logical_id
        for logical_id, r in synthesized.resources("AWS::Events::Rule").items()
        if r["Properties"] is rule
    )
    output = synthesized.template_json["Outputs"][contracts.OUTPUT_CONFLICT_RULE_NAME]
    assert output["Value"] == {"Ref": conflict_id}


# Operations -------------------------------------------------------------------------------


def test_alarms_watch_dlq_errors_failures_throttles_duration_and_queue_age(
    synthesized: Synthesized,
) -> None:
    topic_id, _ = synthesized.only("AWS::SNS::Topic")
    alarms = {
        (a["Properties"]["Namespace"], a["Properties"]["MetricName"]): a["Properties"]
        for a in synthesized.resources("AWS::CloudWatch::Alarm").values()
    }
    assert set(alarms) == {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/Lambda", "Duration"),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
        ("CloudControlReaper", "Failed"),
    }
    assert alarms[("CloudControlReaper", "Failed")]["Dimensions"] == [
        {"Name": "service", "Value": "cloudcontrol-reaper"}
    ]
    assert alarms[("AWS/SQS", "ApproximateNumberOfMessagesVisible")]["Threshold"] == 1
    assert alarms[("AWS/Lambda", "Errors")]["Threshold"] == 1
    assert alarms[("AWS/Lambda", "Duration")]["Threshold"] == 0.8 * DEFAULT_TIMEOUT_SECONDS * 1000
    for alarm in alarms.values():
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["TreatMissingData"] == "notBreaching"
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]
        assert alarm["OKActions"] == [{"Ref": topic_id}]


def test_alarm_topic_denies_publishing_without_tls(synthesized: Synthesized) -> None:
    synthesized.template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )
    assert not synthesized.resources("AWS::SNS::Subscription")  # no alarmEmail in cdk.json


def test_dashboard_shows_function_queue_and_reaper_metrics(synthesized: Synthesized) -> None:
    _, dashboard = synthesized.only("AWS::CloudWatch::Dashboard")
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for needle in ("AWS/Lambda", "Errors", "Throttles", "AWS/SQS", "SEARCH(", "CloudControlReaper"):
        assert needle in body


def test_stack_outputs_name_what_the_cli_and_tests_read(synthesized: Synthesized) -> None:
    outputs = synthesized.template_json["Outputs"]
    assert set(outputs) == {
        contracts.OUTPUT_AUDIT_TABLE_NAME,
        contracts.OUTPUT_WORK_QUEUE_URL,
        contracts.OUTPUT_DEAD_LETTER_QUEUE_URL,
        contracts.OUTPUT_FUNCTION_NAME,
        contracts.OUTPUT_ALARM_TOPIC_ARN,
        contracts.OUTPUT_SCHEDULE_RULE_NAME,
        contracts.OUTPUT_CANCEL_RULE_NAME,
        contracts.OUTPUT_CLOUDTRAIL_RULE_NAME,
        contracts.OUTPUT_CONFLICT_RULE_NAME,
        contracts.OUTPUT_DASHBOARD_NAME,
    }
    table_id, _ = synthesized.only("AWS::DynamoDB::Table")
    assert outputs["AuditTableName"]["Value"] == {"Ref": table_id}


def test_cdk_nag_ran_and_every_suppression_has_a_reason(synthesized: Synthesized) -> None:
    report = json.loads((synthesized.outdir / "validation-report.json").read_text())
    (plugin,) = report["pluginReports"]
    assert plugin["pluginName"] == "AwsSolutions"
    assert plugin["conclusion"] == "success"
    acknowledged = {v["ruleName"]: v["reason"] for v in plugin.get("suppressedViolations", [])}
    # The table grant names the table's ARN only, so the one wildcard left is Cloud Control's;
    # the runtime is the tests' Python, not necessarily the newest (infra/constants.py).
    assert set(acknowledged) == {"AwsSolutions-IAM5[Resource::*]", "AwsSolutions-L1"}
    assert all(len(reason) > 80 for reason in acknowledged.values())
