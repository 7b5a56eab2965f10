"""Given cancelled creates and updates in the audit, when an operator runs ``cc-reaper
leftovers``, then each resource is looked up with the operator's credentials and shown as
exists, gone or unknown, and its properties (which may hold secrets) never appear."""

from __future__ import annotations

import boto3
from botocore.stub import Stubber
from reaper.models import Outcome
from reaper_cli.leftovers import Check, Existence, check_resource

from .seeding import decision, seed_audit

SECRET = "s3cr3t-Pa55word"
HOURS = 3600


def test_a_cancelled_create_that_left_its_resource_and_one_that_did_not(cli, stack, emulator):
    # Given a bucket the emulator has (its create succeeded despite the cancel) and one it lacks
    (created,) = emulator.seed(1, status="SUCCESS", resource_model=f'{{"Secret": "{SECRET}"}}')
    left_behind = emulator.request(created).identifier
    seed_audit(
        stack,
        decision("tok-left", identifier=left_behind, started_by="arn:aws:iam::1:role/deployer"),
        decision("tok-gone", identifier="never-made-1", leftover="gone"),
        # Not checked: a dry run, a cancelled delete, an identifier nobody knew
        decision("tok-dry", identifier=left_behind, outcome=Outcome.DRY_RUN),
        decision("tok-delete", identifier=left_behind, operation="DELETE"),
        decision("tok-noid", identifier=None),
    )

    # When
    result = cli("--json", "leftovers", "--since", "1h")

    # Then
    assert result.code == 0, result.err
    rows = {r["token"]: r for r in result.json_lines()}
    assert set(rows) == {"tok-left", "tok-gone"}
    assert rows["tok-left"]["resource"] == "exists"
    assert rows["tok-left"]["startedBy"] == "arn:aws:iam::1:role/deployer"
    assert rows["tok-gone"]["resource"] == "gone"
    assert rows["tok-gone"]["functionLeftover"] == "gone"
    assert SECRET not in result.out and SECRET not in result.err
    assert emulator.snapshot().calls.get("GetResource") == 2


def test_after_real_cancels_a_half_made_log_group_exists_and_a_bucket_is_gone(cli, emulator):
    # Given an emulator whose cancelled log-group creates leave a resource, buckets nothing
    emulator.configure(cancelled_create_leaves={"AWS::Logs::*": "resource"})
    (log_group,) = emulator.seed(1, type_name="AWS::Logs::LogGroup", age_seconds=7 * HOURS)
    (bucket,) = emulator.seed(1, type_name="AWS::S3::Bucket", age_seconds=7 * HOURS)
    cancelled = cli("--json", "cancel", log_group, bucket, "--no-dry-run", "--yes")
    assert {d["outcome"] for d in cancelled.json_lines()} == {"cancel_complete"}

    # When
    result = cli("--json", "leftovers", "--since", "10m")

    # Then
    assert result.code == 0, result.err
    found = {
        r["token"]: (r["typeName"], r["identifier"], r["resource"]) for r in result.json_lines()
    }
    assert found == {
        log_group: ("AWS::Logs::LogGroup", emulator.request(log_group).identifier, "exists"),
        bucket: ("AWS::S3::Bucket", emulator.request(bucket).identifier, "gone"),
    }


def test_the_table_names_each_resource_and_never_its_properties(cli, stack, emulator):
    (created,) = emulator.seed(1, status="SUCCESS", resource_model=f'{{"Secret": "{SECRET}"}}')
    left_behind = emulator.request(created).identifier
    seed_audit(stack, decision("tok-left", identifier=left_behind, operation="UPDATE"))

    result = cli("leftovers")

    assert result.code == 0, result.err
    assert left_behind in result.out and "exists" in result.out and "UPDATE" in result.out
    assert "1 cancelled request(s): 1 resource(s) exist, 0 gone, 0 unknown." in result.out
    assert SECRET not in result.out and SECRET not in result.err


def test_nothing_cancelled_is_an_empty_report(cli, stack, emulator):
    result = cli("leftovers", "--since", "2h")

    assert result.code == 0, result.err
    assert "0 cancelled request(s)" in result.out
    assert emulator.snapshot().calls.get("GetResource") is None


def test_a_check_that_fails_is_unknown_with_its_code_and_fails_the_command(
    cli, stack, emulator, monkeypatch
):
    seed_audit(stack, decision("tok-1", identifier="bucket-1"))
    monkeypatch.setattr(
        "reaper_cli.leftovers.check_resource",
        lambda client, type_name, identifier: Check(Existence.UNKNOWN, "AccessDeniedException"),
    )

    result = cli("leftovers")

    assert result.code == 1
    assert "unknown (AccessDeniedException)" in result.out


def stubbed() -> tuple[object, Stubber]:
    client = boto3.client(
        "cloudcontrol", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return client, Stubber(client)


def test_get_resource_answers_become_exists_gone_or_unknown_without_properties():
    client, stubber = stubbed()
    params = {"TypeName": "AWS::S3::Bucket", "Identifier": "b"}
    stubber.add_response(
        "get_resource",
        {
            "TypeName": "AWS::S3::Bucket",
            "ResourceDescription": {"Identifier": "b", "Properties": f'{{"k": "{SECRET}"}}'},
        },
        params,
    )
    stubber.add_client_error("get_resource", "ResourceNotFoundException", "gone", 404, params)
    stubber.add_client_error("get_resource", "AccessDeniedException", "no", 403, params)

    with stubber:
        answers = [check_resource(client, "AWS::S3::Bucket", "b") for _ in range(3)]  # type: ignore[arg-type]

    assert answers == [
        Check(Existence.EXISTS),
        Check(Existence.GONE),
        Check(Existence.UNKNOWN, "AccessDeniedException"),
    ]
    assert SECRET not in repr(answers)
