"""Given the app synthesized with cdk-nag's extra rule packs (NIST 800-53 rev 5 and Serverless,
on top of the AwsSolutions pack every synth runs), when the report is read, then every finding
is one docs/reliability.md justifies, and every justification there is still needed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from aws_cdk import App, Validations
from cdk_nag import NIST80053R5Checks, ServerlessChecks

from infra.application import build_app
from tests.infrastructure.conftest import REPO_ROOT, cdk_json_context

pytestmark = pytest.mark.xdist_group("cdk-synth")

DOC = REPO_ROOT / "docs" / "reliability.md"

# (rule, construct path) -> why it stays. The same reasons, in words, in docs/reliability.md.
JUSTIFIED: dict[tuple[str, str], str] = {
    (
        "NIST.800.53.R5-DynamoDBInBackupPlan",
        "CloudControlReaper/Audit/Table/Resource",
    ): "point-in-time recovery (35 days) is on; AWS Backup plans are an account-level choice",
    (
        "NIST.800.53.R5-CloudWatchLogGroupEncrypted",
        "CloudControlReaper/Reaper/LogGroup/Resource",
    ): "CloudWatch encrypts logs at rest; they hold no secrets (tested), a CMK adds cost only",
    (
        "NIST.800.53.R5-IAMNoInlinePolicy",
        "CloudControlReaper/Reaper/Role/DefaultPolicy/Resource",
    ): "the role's one policy, scoped to this stack's resources; nothing else may attach it",
    (
        "NIST.800.53.R5-LambdaDLQ",
        "CloudControlReaper/Reaper/Function/Resource",
    ): "failures go to the DLQ by the on-failure destination and the queue's redrive",
    (
        "Serverless-LambdaDLQ",
        "CloudControlReaper/Reaper/Function/Resource",
    ): "same as NIST.800.53.R5-LambdaDLQ",
    (
        "NIST.800.53.R5-LambdaInsideVPC",
        "CloudControlReaper/Reaper/Function/Resource",
    ): "it calls only AWS public endpoints; a VPC would add NAT or endpoints and no control",
    (
        "NIST.800.53.R5-SNSEncryptedKMS",
        "CloudControlReaper/Monitoring/AlarmTopic/Resource",
    ): "CloudWatch cannot publish to aws/sns; alarm names and states only",
    (
        "Serverless-LambdaLatestVersion",
        "CloudControlReaper/Reaper/Function/Resource",
    ): "the runtime is the Python the tests run on (infra/constants.py), not the newest",
    (
        "Serverless-SQSRedrivePolicy",
        "CloudControlReaper/Queues/DeadLetterQueue/Resource",
    ): "it is the dead-letter queue: the end of every failure path",
    (
        "Serverless-LambdaEventSourceMappingDestination",
        "CloudControlReaper/Reaper/Function/SqsEventSource:CloudControlReaperQueuesWorkQueue"
        "147B3A06/Resource",
    ): "an SQS source has no on-failure destination; the queue's redrive policy is it",
}


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[set[tuple[str, str]]]:
    outdir = tmp_path_factory.mktemp("nag.out")
    app = App(context=cdk_json_context(), outdir=str(outdir))
    build_app(app)
    Validations.of(app).add_plugins(NIST80053R5Checks(app), ServerlessChecks(app))
    try:
        app.synth()
    except RuntimeError as error:  # findings fail the synth; the report says which
        assert "ValidationFailed" in str(error)
    report = json.loads(Path(outdir, "validation-report.json").read_text())
    found: set[tuple[str, str]] = set()
    for plugin in report["pluginReports"]:
        for violation in plugin["violations"]:
            for construct in violation["violatingConstructs"]:
                found.add((violation["ruleName"], construct["constructPath"]))
    yield found


def test_every_finding_of_the_extra_packs_is_justified(findings: set[tuple[str, str]]) -> None:
    assert sorted(findings - JUSTIFIED.keys()) == [], "new findings: fix them or justify them"


def test_every_justification_is_still_needed(findings: set[tuple[str, str]]) -> None:
    assert sorted(JUSTIFIED.keys() - findings) == [], "fixed: drop the justification"


def test_the_reliability_doc_justifies_each_finding() -> None:
    text = DOC.read_text()
    missing = sorted({rule for rule, _ in JUSTIFIED if rule not in text})
    assert missing == []
