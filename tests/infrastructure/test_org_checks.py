"""Organization mode's templates pass cfn-lint and cdk-nag, and the zip is deterministic."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from reaper import contracts

from infra.org.code import KEY_PREFIX, build_bundle
from infra.org.member_template import MEMBER_OUTDIR, MemberTemplate
from infra.org.settings import OrganizationSettings
from infra.org.stack_set import OrgStackSet

from .test_infra_checks import CFN_LINT_IGNORED
from .test_org_stacks import OrgSynth, synthesize_org


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrgSynth]:
    yield synthesize_org(tmp_path_factory.mktemp("org-checks.out"))


def test_cfn_lint_finds_nothing_in_any_organization_template(org: OrgSynth) -> None:
    paths = [str(p) for p in org.template_paths]
    assert len(paths) == 4 and all(Path(p).exists() for p in paths)
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "cfn-lint"),
            "--ignore-checks",
            *CFN_LINT_IGNORED,
            "--format",
            "parseable",
            "--",
            *paths,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "report", ["validation-report.json", f"{MEMBER_OUTDIR}/validation-report.json"]
)
def test_cdk_nag_passes_with_every_suppression_reasoned(org: OrgSynth, report: str) -> None:
    # A finding nobody acknowledged makes synth raise; the report says what was acknowledged.
    (plugin,) = json.loads((org.outdir / report).read_text())["pluginReports"]
    assert plugin["pluginName"] == "AwsSolutions"
    assert plugin["conclusion"] == "success"
    assert plugin["violations"] == []
    for suppressed in plugin["suppressedViolations"]:
        assert len(suppressed["reason"]) > 40, suppressed["ruleName"]


def test_the_code_zip_depends_on_names_and_contents_only(tmp_path: Path) -> None:
    # Given a package directory with bytecode caches next to the sources
    package = tmp_path / "lambda" / "pkg"
    (package / "__pycache__").mkdir(parents=True)
    (package / "b.py").write_text("B = 2\n")
    (package / "a.py").write_text("A = 1\n")
    (package / "__pycache__" / "a.cpython-313.pyc").write_bytes(b"\x00")
    first = build_bundle(tmp_path / "lambda")

    # When the files are touched (new mtimes) and another cache appears
    (package / "a.py").write_text("A = 1\n")
    (package / "c.pyc").write_bytes(b"\x00")
    second = build_bundle(tmp_path / "lambda")

    # Then the bytes and the key are the same, the caches are left out (the build compiles its
    # own for the runtime, infra/bytecode.py), entries are sorted
    assert first == second
    assert first.key == f"{KEY_PREFIX}{first.sha256}.zip"
    names = zipfile.ZipFile(BytesIO(first.body)).namelist()
    assert names == [
        "pkg/__pycache__/a.cpython-313.pyc",
        "pkg/__pycache__/b.cpython-313.pyc",
        "pkg/a.py",
        "pkg/b.py",
    ]

    # And a changed source is a new key
    (package / "b.py").write_text("B = 3\n")
    assert build_bundle(tmp_path / "lambda").key != first.key


def test_a_member_past_the_template_body_limit_goes_by_template_url(tmp_path: Path) -> None:
    # Given a member template larger than TemplateBody's 51,200 bytes
    big = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}, "Metadata": {"pad": "x" * 60_000}}
    path = tmp_path / "member.template.json"
    path.write_text(json.dumps(big))
    member = MemberTemplate(template=big, path=path)
    assert not member.fits_template_body

    # When the StackSet is built from it
    app = App(outdir=str(tmp_path / "out"))
    stack = Stack(app, "Management")
    OrgStackSet(
        stack,
        "Members",
        organization=OrganizationSettings.model_validate(
            {"orgId": "o-a1b2c3d4e5", "ous": ["ou-ab12-cdef3456"], "regions": ["eu-west-1"]}
        ),
        member=member,
        central_bus_arn="arn:aws:events:us-east-1:123456789012:event-bus/cc-reaper-org",
        control_topic_arn="arn:aws:sns:us-east-1:123456789012:cc-reaper-org-control",
    )
    template = app.synth().get_stack_by_name("Management").template

    # Then the template goes by URL, from an asset of the management account, not by body
    (props,) = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudFormation::StackSet"
    ]
    assert "TemplateBody" not in props
    assert "cdk-hnb659fds-assets" in json.dumps(props["TemplateURL"])


def test_the_enterprise_options_reach_the_management_stack_and_the_member(tmp_path: Path) -> None:
    # Given the enterprise options beside organization (cdk-nag passes: synth would raise)
    options = {"rolePath": "/acme/", "tags": {"team": "platform"}, "namePrefix": "acme-"}
    org = synthesize_org(tmp_path, options)

    # Then every role of both templates has the path, and the StackSet carries the tags
    for template in (org.management, org.member):
        roles = org.resources(template, "AWS::IAM::Role").values()
        assert roles and {r["Properties"].get("Path") for r in roles} == {"/acme/"}
    stack_set = org.only(org.management, "AWS::CloudFormation::StackSet")["Properties"]
    assert {"Key": "team", "Value": "platform"} in stack_set["Tags"]
    for template in org.code_stacks.values():
        bucket = org.only(template, "AWS::S3::Bucket")["Properties"]
        assert {"Key": "team", "Value": "platform"} in bucket["Tags"]
    # And the contract names stay as they are (the prefix names only what has no name)
    table = org.only(org.member, "AWS::DynamoDB::Table")["Properties"]
    assert table["TableName"] == contracts.ORG_MEMBER_AUDIT_TABLE
