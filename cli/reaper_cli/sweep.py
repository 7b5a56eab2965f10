"""``cc-reaper sweep``: the Lambda's sweep, from a laptop, with the same service and audit."""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from reaper.config import ReaperConfig
from reaper.models import Outcome, RequestStatus, Status
from reaper.ports import CloudControl
from reaper.wiring import build_cloud_control, build_reaper
from rich.progress import Progress
from rich.table import Table

from reaper_cli import fleet
from reaper_cli.account import ALL, Account
from reaper_cli.config_options import add_config_options, build_config
from reaper_cli.render import Output, decision_json, decisions_table
from reaper_cli.safety import confirm_cancelling
from reaper_cli.targets import add_target_options, wants_targets

HELP = "list PENDING/IN_PROGRESS requests and cancel the stale ones (dry run by default)"


def register(commands: argparse._SubParsersAction[Any]) -> None:
    parser = commands.add_parser("sweep", help=HELP, description=HELP)
    add_config_options(parser)
    add_target_options(parser)
    parser.set_defaults(run=run)


class ProgressCloudControl:
    """The Cloud Control port, counting pages and cancels on a progress line as they happen."""

    def __init__(self, inner: CloudControl, progress: Progress) -> None:
        self._inner = inner
        self._progress = progress
        self._task = progress.add_task("listing", total=None)
        self.listed = 0
        self.cancels = 0

    def _show(self) -> None:
        self._progress.update(
            self._task, description=f"listed {self.listed} requests, {self.cancels} cancel calls"
        )

    def list_requests(self, statuses: Sequence[Status]) -> Iterator[list[RequestStatus]]:
        for page in self._inner.list_requests(statuses):
            if Status.IN_PROGRESS in statuses or Status.PENDING in statuses:
                self.listed += len(page)
                self._show()
            yield page

    def get_status(self, token: str) -> RequestStatus:
        return self._inner.get_status(token)

    def cancel(self, token: str) -> RequestStatus:
        result = self._inner.cancel(token)
        self.cancels += 1
        self._show()
        return result

    def resource_exists(self, type_name: str, identifier: str) -> bool | None:
        return self._inner.resource_exists(type_name, identifier)

    def throttled_calls(self) -> int:
        return self._inner.throttled_calls()


def run(args: argparse.Namespace, account: Account, output: Output) -> int:
    config = build_config(args)
    if wants_targets(args):
        return _sweep_targets(args, account, output, config)
    confirm_cancelling(
        args, config, f"up to {config.max_cancellations_per_run} stale Cloud Control requests"
    )
    settings = account.settings(config, *ALL)
    run_id = f"cc-reaper-sweep-{uuid.uuid4()}"
    with output.spinner() as progress:
        counted = ProgressCloudControl(build_cloud_control(settings, account.clients), progress)
        reaper = build_reaper(settings, account.clients, cloud_control=counted)
        sweep_run = reaper.run(run_id)
        report = sweep_run.sweep()
    outcomes = {o.value: n for o, n in sorted(sweep_run.report.outcomes.items())}
    failed = sweep_run.report.outcomes.get(Outcome.FAILED, 0)
    if output.json:
        output.emit(
            {
                "runId": run_id,
                "dryRun": config.dry_run,
                "listed": report.listed,
                "outcomes": outcomes,
                "handedOff": report.handed_off,
                "stoppedEarly": report.stopped_early,
                "decisions": [decision_json(d) for d in report.decisions],
            }
        )
        return 1 if failed else 0
    kind = "dry run" if config.dry_run else "cancelling"
    summary = Table(title=f"Sweep ({kind})", title_justify="left")
    summary.add_column("outcome")
    summary.add_column("requests", justify="right")
    for outcome, count in outcomes.items():
        summary.add_row(outcome, str(count))
    summary.add_row("[bold]listed[/]", f"[bold]{report.listed}[/]")
    output.out.print(summary)
    output.out.print(f"run id {run_id} (the audit's delivery id)")
    if report.decisions:
        output.out.print(decisions_table("Stale requests (audited)", list(report.decisions)))
    if config.dry_run:
        would = sweep_run.report.outcomes.get(Outcome.DRY_RUN, 0)
        output.out.print(
            f"Dry run: nothing was cancelled; {would} request(s) would be. "
            "Cancel them with --no-dry-run --yes."
        )
    if report.handed_off:
        output.out.print(f"{report.handed_off} token(s) handed to the work queue (time ran out).")
    return 1 if failed else 0


def _sweep_targets(
    args: argparse.Namespace, account: Account, output: Output, config: ReaperConfig
) -> int:
    """Every target account-Region: a read-only assessment, or (--no-dry-run) its sweep."""
    if config.dry_run:
        return fleet.fan_out(
            args,
            account,
            output,
            fleet.assess_work(config),
            title="Sweep (dry run, nothing recorded)",
            columns=("listed", "stale", "not stale", "left alone"),
        )
    confirm_cancelling(
        args, config, f"up to {config.max_cancellations_per_run} requests in every target"
    )
    return fleet.fan_out(
        args,
        account,
        output,
        fleet.sweep_work(config),
        title="Sweep (cancelling)",
        columns=("listed", "cancelled", "cancel_complete", "failed", "not_stale"),
    )
