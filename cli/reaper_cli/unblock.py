"""``cc-reaper unblock``: the request(s) holding a resource, decided by the function's rules.

A deployment refused with ConcurrentOperationException names a resource, not a request token.
The service finds the active requests on that TypeName and Identifier and decides each with
``blocking_threshold_minutes`` (or the usual threshold); the CLI only shows who started each one
and what was decided.
"""

from __future__ import annotations

import argparse
import re
import uuid
from typing import Any

from reaper.explain import duration, why
from reaper.models import Decision, Outcome
from reaper.wiring import build_cloud_control, build_reaper
from rich.table import Table

from reaper_cli.account import ALL, Account, operator_name
from reaper_cli.config_options import add_config_options, build_config
from reaper_cli.errors import NOTHING_FOUND, USAGE, CliError
from reaper_cli.render import OUTCOME_STYLE, Output, decision_json
from reaper_cli.safety import confirm_cancelling
from reaper_cli.sweep import ProgressCloudControl
from reaper_cli.tokens import CLI_SOURCE

HELP = "find and decide the request(s) blocking one resource (dry run by default)"
# Cloud Control's own TypeName and Identifier constraints (the API reference).
_TYPE_NAME = re.compile(r"^[A-Za-z0-9]{2,64}::[A-Za-z0-9]{2,64}::[A-Za-z0-9]{2,64}(::MODULE)?$")
MAX_IDENTIFIER_CHARS = 1024

# The decision column: what the outcome means for the blocked deployment.
VERDICT = {
    Outcome.CANCEL_COMPLETE: "cancel_complete (unblocked)",
    Outcome.CANCELLED: "cancelled (cancel still in progress)",
    Outcome.BLOCKING: "blocking (not stale yet)",
    Outcome.NOT_STALE: "blocking (not stale yet)",
    Outcome.DRY_RUN: "dry_run (would cancel)",
}


def register(commands: argparse._SubParsersAction[Any]) -> None:
    parser = commands.add_parser("unblock", help=HELP, description=HELP)
    parser.add_argument("--type-name", required=True, help="e.g. AWS::Logs::LogGroup")
    parser.add_argument(
        "--identifier", required=True, help="the resource's primary identifier, as Cloud Control"
    )
    parser.add_argument("--reason", help="why (stored in the audit with each decision)")
    add_config_options(parser)
    parser.add_argument(
        "--blocking-threshold-minutes",
        type=int,
        help="ReaperConfig's blocking_threshold_minutes: the age after which a request that "
        "blocks a deployment is stale (default: the usual threshold)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, account: Account, output: Output) -> int:
    type_name, identifier = _valid_resource(args.type_name, args.identifier)
    config = build_config(args)
    resource = f"{type_name} {identifier}"
    confirm_cancelling(args, config, f"the request(s) blocking {resource} if stale")
    settings = account.settings(config, *ALL)
    # The service stores the blocked call as each decision's reason: the operator's goes in it.
    blocked_call = f"cc-reaper unblock by {operator_name()}" + (
        f": {args.reason}" if args.reason else ""
    )
    delivery_id = f"cc-reaper-unblock-{uuid.uuid4()}"
    with output.spinner() as progress:
        counted = ProgressCloudControl(build_cloud_control(settings, account.clients), progress)
        reaper = build_reaper(settings, account.clients, cloud_control=counted)
        decisions = reaper.run(delivery_id).unblock(
            type_name,
            identifier,
            blocked_call=blocked_call,
            delivery_id=delivery_id,
            source=CLI_SOURCE,
        )
    if not decisions:
        output.note(f"Nothing blocks {resource}: no PENDING or IN_PROGRESS request on it.")
        return NOTHING_FOUND
    if output.json:
        for decision in decisions:
            output.emit(decision_json(decision))
    else:
        kind = "dry run" if config.dry_run else "cancelling"
        output.out.print(_table(f"Requests blocking {resource} ({kind})", decisions))
        output.out.print(f"delivery id {delivery_id} (the audit's); blocked call: {blocked_call}")
        if config.dry_run and any(d.outcome is Outcome.DRY_RUN for d in decisions):
            output.out.print("Dry run: nothing was cancelled. Cancel with --no-dry-run --yes.")
    return 1 if any(d.outcome is Outcome.FAILED for d in decisions) else 0


def _valid_resource(type_name: str, identifier: str) -> tuple[str, str]:
    if not _TYPE_NAME.match(type_name):
        raise CliError(f"not a TypeName: {type_name[:140]!r} (like AWS::Logs::LogGroup)", USAGE)
    if not identifier or len(identifier) > MAX_IDENTIFIER_CHARS:
        raise CliError(f"--identifier must be 1 to {MAX_IDENTIFIER_CHARS} characters", USAGE)
    return type_name, identifier


def started_by(d: Decision) -> str:
    """CloudTrail's principal and user agent, when the function saw the call that started it."""
    if d.started_by and d.user_agent:
        return f"{d.started_by} ({d.user_agent})"
    return d.started_by or d.user_agent or "unknown"


def _why(d: Decision) -> str:
    """In words; a request left blocking is re-checked by the function when it turns stale."""
    if d.outcome is Outcome.BLOCKING:
        threshold = duration(d.threshold_minutes * 60 if d.threshold_minutes else None)
        return (
            f"{duration(d.age_seconds)} old, under its threshold {threshold}: "
            "the function re-checks it when it turns stale"
        )
    return why(d)


def _table(title: str, decisions: list[Decision]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("token", "op", "status", "age / threshold", "decision"):
        table.add_column(column, no_wrap=True)
    for column in ("started by", "why"):
        table.add_column(column, overflow="fold")
    for d in decisions:
        threshold = d.threshold_minutes * 60 if d.threshold_minutes else None
        table.add_row(
            d.token,
            d.operation or "-",
            d.status_seen.value if d.status_seen else "-",
            f"{duration(d.age_seconds)} / {duration(threshold)}",
            VERDICT.get(d.outcome, d.outcome.value),
            started_by(d),
            _why(d),
            style=OUTCOME_STYLE.get(d.outcome),
        )
    return table
