"""``cc-reaper kill-switch``: the control item that stops every cancellation, no redeploy."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from reaper.config import ReaperConfig
from reaper.wiring import build_audit_table
from rich.table import Table

from reaper_cli import fleet, org_view
from reaper_cli.account import Account, Need, operator_name
from reaper_cli.errors import USAGE, CliError
from reaper_cli.render import Output
from reaper_cli.targets import add_target_options, wants_targets

HELP = "engage (on), release (off) or show (status) the kill switch"
DEFAULT_WAIT_SECONDS = 60.0
MAX_WAIT_SECONDS = 900.0


def register(commands: argparse._SubParsersAction[Any]) -> None:
    parser = commands.add_parser("kill-switch", help=HELP, description=HELP)
    parser.add_argument("action", choices=("on", "off", "status"), nargs="?", default="status")
    parser.add_argument("--reason", help="why (required for 'on')")
    parser.add_argument("--by", help="who (default: local user@host)")
    add_target_options(parser)
    parser.add_argument(
        "--wait",
        type=_seconds,
        default=DEFAULT_WAIT_SECONDS,
        help="on/off --org: seconds to wait for every member's confirmation "
        f"(default {DEFAULT_WAIT_SECONDS:g})",
    )
    parser.set_defaults(run=run)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= MAX_WAIT_SECONDS:
        raise argparse.ArgumentTypeError(f"seconds from 0 to {MAX_WAIT_SECONDS:g} (got {text!r})")
    return value


def run(args: argparse.Namespace, account: Account, output: Output) -> int:
    if args.org and args.action in ("on", "off"):
        return org_view.run_kill_switch(args, account, output)  # the central bus
    if wants_targets(args):
        return _members(args, account, output)
    audit = build_audit_table(account.settings(ReaperConfig(), Need.TABLE), account.clients)
    if args.action == "on" and not args.reason:
        raise CliError("kill-switch on needs --reason (it is shown to whoever finds it on)", USAGE)
    if args.action in ("on", "off"):
        who = args.by or operator_name()
        reason = args.reason or "released"
        audit.set_kill_switch(args.action == "on", reason, who, datetime.now(UTC))
    state = audit.kill_switch()
    if output.json:
        output.emit(
            {
                "engaged": state.engaged,
                "reason": state.reason,
                "setBy": state.set_by,
                "setAt": state.set_at,
            }
        )
        return 0
    table = Table(title="Kill switch", title_justify="left", show_header=False)
    table.add_column("")
    table.add_column("")
    table.add_row(
        "state",
        "[bold red]ENGAGED: no cancellation anywhere[/]" if state.engaged else "[green]off[/]",
    )
    table.add_row("reason", state.reason or "-")
    table.add_row("set by", state.set_by or "-")
    table.add_row("set at", f"{state.set_at:%Y-%m-%d %H:%M:%S}Z" if state.set_at else "-")
    output.out.print(table)
    return 0


def _members(args: argparse.Namespace, account: Account, output: Output) -> int:
    """Each target member's own switch item, through --role-name: set (on/off with
    --accounts; --org goes through the central bus instead) or read (status)."""
    if args.action == "on" and not args.reason:
        raise CliError("kill-switch on needs --reason (it is shown to whoever finds it on)", USAGE)
    return fleet.fan_out(
        args,
        account,
        output,
        fleet.kill_switch_work(args.action, args.reason, args.by),
        title=f"Kill switch {args.action}",
        columns=("engaged",),
    )
