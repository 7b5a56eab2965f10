"""The template users deploy is created for real in moto's CloudFormation."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from reaper import contracts
from reaper_local.cfn_deploy import DeployedStack, deploy_to_moto

from infra import constants as c

from .conftest import Synthesized


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def deployed(synthesized: Synthesized, endpoint: str) -> DeployedStack:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # moto warns per skipped resource
        return deploy_to_moto(endpoint, synthesized.outdir)


def _client(endpoint: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_stack_reaches_create_complete_with_every_output(deployed: DeployedStack) -> None:
    assert deployed.status == "CREATE_COMPLETE"
    assert set(deployed.outputs) >= {
        contracts.OUTPUT_AUDIT_TABLE_NAME,
        contracts.OUTPUT_WORK_QUEUE_URL,
        contracts.OUTPUT_DEAD_LETTER_QUEUE_URL,
        contracts.OUTPUT_FUNCTION_NAME,
        contracts.OUTPUT_ALARM_TOPIC_ARN,
    }


def test_what_moto_cannot_create_is_named_not_hidden(deployed: DeployedStack) -> None:
    # If a moto upgrade starts creating one of these, this test says so.
    assert deployed.skipped_resource_types == (
        "AWS::CloudWatch::Alarm",
        "AWS::Lambda::EventInvokeConfig",
        "AWS::SNS::TopicPolicy",
        "AWS::SQS::QueuePolicy",
    )
    local_name = "/reaper-local" + c.POWERTOOLS_LAYER_PARAMETER.removeprefix("/aws")
    assert deployed.redirected_parameters == {c.POWERTOOLS_LAYER_PARAMETER: local_name}
    assert deployed.removed_schedule_targets == (
        deployed.outputs[contracts.OUTPUT_SCHEDULE_RULE_NAME],
    )


def test_outputs_name_a_real_audit_table_with_the_design_keys(
    deployed: DeployedStack, endpoint: str
) -> None:
    table = _client(endpoint, "dynamodb").describe_table(
        TableName=deployed.outputs[contracts.OUTPUT_AUDIT_TABLE_NAME]
    )["Table"]
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {
        "pk": "HASH",
        "sk": "RANGE",
    }
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["by-time"]


def test_outputs_name_real_queues_with_the_redrive(deployed: DeployedStack, endpoint: str) -> None:
    sqs = _client(endpoint, "sqs")
    dlq_arn = sqs.get_queue_attributes(
        QueueUrl=deployed.outputs[contracts.OUTPUT_DEAD_LETTER_QUEUE_URL],
        AttributeNames=["QueueArn"],
    )["Attributes"]["QueueArn"]
    work = sqs.get_queue_attributes(
        QueueUrl=deployed.outputs[contracts.OUTPUT_WORK_QUEUE_URL], AttributeNames=["All"]
    )["Attributes"]
    assert f'"deadLetterTargetArn": "{dlq_arn}"' in work["RedrivePolicy"]
    assert work["VisibilityTimeout"] == "1800"


def test_function_exists_and_its_sqs_mapping_is_left_to_the_local_runner(
    deployed: DeployedStack, endpoint: str
) -> None:
    lambda_client = _client(endpoint, "lambda")
    function = lambda_client.get_function_configuration(
        FunctionName=deployed.outputs[contracts.OUTPUT_FUNCTION_NAME]
    )
    assert function["Handler"] == "reaper.handler.lambda_handler"
    assert set(function["Environment"]["Variables"]) >= {"AUDIT_TABLE_NAME", "REAPER_CONFIG"}
    (uuid,) = deployed.disabled_event_source_mappings
    mapping = lambda_client.get_event_source_mapping(UUID=uuid)
    assert mapping["State"] == "Disabled"
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_a_custom_cancel_event_reaches_the_work_queue(
    deployed: DeployedStack, endpoint: str
) -> None:
    # Given the deployed rules, When a user puts a cancel event on the default bus
    _client(endpoint, "events").put_events(
        Entries=[
            {
                "Source": "cloudcontrol-reaper",
                "DetailType": "Cancel Resource Request",
                "Detail": '{"requestTokens": ["abc123=="], "reason": "test"}',
            }
        ]
    )
    # Then the work queue holds it for the reaper
    messages = (
        _client(endpoint, "sqs")
        .receive_message(
            QueueUrl=deployed.outputs[contracts.OUTPUT_WORK_QUEUE_URL], WaitTimeSeconds=1
        )
        .get("Messages", [])
    )
    assert len(messages) == 1
    assert "abc123==" in messages[0]["Body"]
