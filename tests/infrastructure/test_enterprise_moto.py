"""The stack with a boundary, a role path, tags and a name prefix is created in moto's
CloudFormation, and the created resources carry them. (kmsKey is not played here: moto's
CloudFormation fails on AWS::KMS::Key with Tags; the template tests assert it instead.)"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer
from reaper_local.cfn_deploy import deploy_to_moto

from .conftest import synthesize

# Not test_infra_moto_deploy.py's Region: moto's state is per process, the stack name the same.
REGION = "eu-west-1"
BOUNDARY_PER_ACCOUNT = "arn:aws:iam::${AWS::AccountId}:policy/ReaperBoundary"
OPTIONS = {
    "permissionsBoundaryArn": BOUNDARY_PER_ACCOUNT,
    "rolePath": "/reaper/",
    "tags": json.dumps({"team": "platform"}),
    "namePrefix": "acme-",
}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _session() -> boto3.session.Session:
    return boto3.session.Session(
        region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def test_named_tagged_bounded_stack_is_created_with_what_it_asked_for(
    endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Given the template with every naming and IAM option on
    outdir: Path = tmp_path_factory.mktemp("cdk-enterprise-moto.out")
    synthesize(outdir, OPTIONS)
    # When it is created in moto's CloudFormation
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # moto warns per skipped resource
        stack = deploy_to_moto(endpoint, outdir, region=REGION)
    # Then the resources have the prefixed names the outputs report
    assert stack.outputs["AuditTableName"].startswith("acme-CloudControlReaper-")
    assert stack.outputs["WorkQueueUrl"].rsplit("/", 1)[1].startswith("acme-")
    assert stack.outputs["FunctionName"].startswith("acme-")
    dynamodb = _session().client("dynamodb", endpoint_url=endpoint)
    table = dynamodb.describe_table(TableName=stack.outputs["AuditTableName"])
    assert table["Table"]["TableStatus"] == "ACTIVE"
    # And the function's role is under the path, with the account's boundary and the tags
    iam = _session().client("iam", endpoint_url=endpoint)
    roles = iam.list_roles(PathPrefix="/reaper/")["Roles"]
    assert len(roles) == 1
    role = iam.get_role(RoleName=roles[0]["RoleName"])["Role"]
    assert role["RoleName"].startswith("acme-") and role["RoleName"].endswith(f"-{REGION}")
    assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == (
        "arn:aws:iam::123456789012:policy/ReaperBoundary"
    )
    assert {"Key": "team", "Value": "platform"} in role.get("Tags", [])
