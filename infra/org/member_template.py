"""The member template, synthesized in an App of its own and handed to the StackSet.

A StackSet takes a finished template, not a stack of the same assembly, so the member is
synthesized first, with cdk-nag, into ``<outdir>/org-member`` (where a reader finds it), and
its JSON is read back. Same feature flags as the outer app: same template as a `cdk synth`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App, Tags, Validations
from cdk_nag import AwsSolutionsChecks
from reaper import contracts
from reaper.config import ReaperConfig

from infra.config import InfraSettings
from infra.org.code import CodeBundle
from infra.org.member import OrgMemberSynthesizer
from infra.org.settings import OrganizationSettings
from infra.stack import ReaperStack

MEMBER_OUTDIR = "org-member"
MEMBER_STACK_NAME = "CloudControlReaperMember"
# CloudFormation's TemplateBody limit; a larger member goes by TemplateURL (an S3 asset).
TEMPLATE_BODY_MAX_BYTES = 51_200


@dataclass(frozen=True)
class MemberTemplate:
    template: dict[str, Any]
    path: Path

    @property
    def body(self) -> str:
        """The template as the StackSet sends it: compact JSON."""
        return json.dumps(self.template, separators=(",", ":"))

    @property
    def fits_template_body(self) -> bool:
        return len(self.body.encode()) <= TEMPLATE_BODY_MAX_BYTES


def synthesize_member(
    *,
    context: Mapping[str, Any],
    outdir: Path,
    reaper_config: ReaperConfig,
    settings: InfraSettings,
    organization: OrganizationSettings,
    code: CodeBundle,
) -> MemberTemplate:
    """Synthesize the member (cdk-nag included: a finding raises) and return its template."""
    member_outdir = outdir / MEMBER_OUTDIR
    # No asset metadata: it would name a path in this cdk.out, meaningless in a member.
    app = App(
        context={**context, "aws:cdk:enable-asset-metadata": False},
        outdir=str(member_outdir),
        analytics_reporting=False,
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    Tags.of(app).add("project", contracts.SERVICE_NAME)  # as the outer app tags its stacks
    ReaperStack(
        app,
        MEMBER_STACK_NAME,
        reaper_config=reaper_config,
        settings=settings,
        organization=organization,
        synthesizer=OrgMemberSynthesizer(
            bucket_prefix=organization.bucket_prefix, object_key=code.key
        ),
        description="Cloud Control Request Reaper, organization member "
        f"(StackSet {contracts.ORG_STACK_SET_NAME})",
    )
    assembly = app.synth()
    path = Path(assembly.get_stack_by_name(MEMBER_STACK_NAME).template_full_path)
    return MemberTemplate(template=json.loads(path.read_text()), path=path)
