"""One synthesized app per pytest session: synth takes seconds, every test reads its output.

The app is built from cdk.json's context, as `npx cdk synth` builds it, so the tests check the
template users deploy. Under pytest-xdist every test here is put in one group, so one worker
synthesizes once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from aws_cdk import App
from aws_cdk.assertions import Template

from infra import constants as c
from infra.application import build_app

REPO_ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.xdist_group("cdk-synth"))


# The account's default event bus, as the synthesized template writes its ARN.
DEFAULT_BUS_ARN = {
    "Fn::Join": [
        "",
        [
            "arn:",
            {"Ref": "AWS::Partition"},
            ":events:",
            {"Ref": "AWS::Region"},
            ":",
            {"Ref": "AWS::AccountId"},
            ":event-bus/default",
        ],
    ]
}


@dataclass(frozen=True)
class Synthesized:
    outdir: Path
    template: Template
    template_json: dict[str, Any]
    template_path: Path

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.template_json["Resources"].items()
            if resource["Type"] == resource_type
        }

    def only(self, resource_type: str) -> tuple[str, dict[str, Any]]:
        found = self.resources(resource_type)
        assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
        return next(iter(found.items()))


def cdk_json_context() -> dict[str, Any]:
    context: dict[str, Any] = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    return context


# The options cdk.json leaves off, all on: chat delivery, the leftovers check, approvals. One action
# with a wildcard, one without, to see how each is granted and acknowledged.
SLACK_WORKSPACE_ID = "T0123ABCD"
SLACK_CHANNEL_ID = "C0123ABCD"
VERIFY_LEFTOVERS = ("s3:GetBucketLocation", "ec2:Describe*")
WITH_OPTIONS: dict[str, Any] = {
    "slackWorkspaceId": SLACK_WORKSPACE_ID,
    "slackChannelId": SLACK_CHANNEL_ID,
    "verifyLeftovers": ",".join(VERIFY_LEFTOVERS),  # as `-c verifyLeftovers=a,b` gives it
    "requireApproval": "true",
}


def synthesize(outdir: Path, overrides: dict[str, Any] | None = None) -> Synthesized:
    """cdk.json's context (with ``overrides``, as -c gives them) synthesized, cdk-nag included."""
    app = App(context={**cdk_json_context(), **(overrides or {})}, outdir=str(outdir))
    build_app(app)
    app.synth()
    template_path = outdir / f"{c.STACK_NAME}.template.json"
    template_json = json.loads(template_path.read_text())
    return Synthesized(
        outdir=outdir,
        template=Template.from_json(template_json),
        template_json=template_json,
        template_path=template_path,
    )


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    yield synthesize(tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def synthesized_with_options(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    """The stack with slackWorkspaceId/slackChannelId and verifyLeftovers set."""
    yield synthesize(tmp_path_factory.mktemp("cdk-options.out"), WITH_OPTIONS)
