"""Builds the app: validated context -> one stack per target environment, checks on synth."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import App, Environment, Stack, Tags, Validations
from cdk_nag import AwsSolutionsChecks

from infra import constants as c
from infra.config import AppSettings, settings_from_context
from infra.org.code import build_bundle
from infra.org.code_stack import OrgCodeStack, code_stack_name
from infra.org.management import OrgManagementStack
from infra.org.member_template import synthesize_member
from infra.org.settings import OrganizationSettings
from infra.stack import ReaperStack


def build_app(app: App) -> list[Stack]:
    """Add the stacks the context asks for to ``app``; raises ConfigError on bad context."""
    settings = settings_from_context(app.node.get_all_context())
    # cdk-nag's AwsSolutions pack runs on every synth; a finding nobody acknowledged with a
    # reason stops the synth (report: cdk.out/validation-report.json).
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    Tags.of(app).add("project", c.SERVICE_NAME)
    if settings.infra.organization is not None:
        return _organization(app, settings, settings.infra.organization)
    stacks: list[Stack] = [
        ReaperStack(
            app,
            stack_name,
            reaper_config=settings.reaper,
            settings=settings.infra,
            env=env,
            description="Cloud Control Request Reaper: cancels stale Cloud Control API requests",
        )
        for stack_name, env in _targets(settings)
    ]
    return stacks


def _organization(app: App, settings: AppSettings, org: OrganizationSettings) -> list[Stack]:
    """Organization mode: a code bucket stack per member Region and the management stack,
    whose StackSet carries the member template synthesized here first."""
    code = build_bundle()
    member = synthesize_member(
        context=app.node.get_all_context(),
        outdir=Path(app.outdir),
        reaper_config=settings.reaper,
        settings=settings.infra,
        organization=org,
        code=code,
    )
    stacks: list[Stack] = [
        OrgCodeStack(
            app,
            code_stack_name(region),
            organization=org,
            region=region,
            enterprise=settings.infra.enterprise,
            env=Environment(region=region),
            description=f"Cloud Control Request Reaper: the member code bucket of {region}",
        )
        for region in org.regions
    ]
    management_env = Environment(region=org.management_region) if org.management_region else None
    stacks.append(
        OrgManagementStack(
            app,
            c.ORG_MANAGEMENT_STACK_NAME,
            reaper_config=settings.reaper,
            settings=settings.infra,
            organization=org,
            member=member,
            code=code,
            env=management_env,
            description="Cloud Control Request Reaper: the organization's StackSet, central "
            "bus, audit view, kill switch and alarms",
        )
    )
    return stacks


def _targets(settings: AppSettings) -> list[tuple[str, Environment | None]]:
    """No list: one environment-agnostic stack, deployed where the CLI's credentials point."""
    environments = settings.infra.environments
    if not environments:
        return [(c.STACK_NAME, None)]
    if len(environments) == 1:
        only = environments[0]
        return [(c.STACK_NAME, Environment(account=only.account, region=only.region))]
    return [
        (f"{c.STACK_NAME}-{e.account}-{e.region}", Environment(account=e.account, region=e.region))
        for e in environments
    ]
