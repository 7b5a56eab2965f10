"""Builds the app: validated context -> one stack per target environment, checks on synth."""

from __future__ import annotations

from aws_cdk import App, Environment, Tags, Validations
from cdk_nag import AwsSolutionsChecks

from infra import constants as c
from infra.config import AppSettings, settings_from_context
from infra.stack import ReaperStack


def build_app(app: App) -> list[ReaperStack]:
    """Add the stacks the context asks for to ``app``; raises ConfigError on bad context."""
    settings = settings_from_context(app.node.get_all_context())
    # cdk-nag's AwsSolutions pack runs on every synth; a finding nobody acknowledged with a
    # reason stops the synth (report: cdk.out/validation-report.json).
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    stacks = [
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
    Tags.of(app).add("project", c.SERVICE_NAME)
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
