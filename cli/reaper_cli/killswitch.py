"""``cc-reaper kill-switch``: the control item that stops every cancellation, no redeploy."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from reaper.config import ReaperConfig
from reaper.wiring import build_audit_table
from rich.table import Table

from reaper_cli.account import Account, Need, operator_name
from reaper_cli.errors import USAGE, CliError
from reaper_cli.render import Output

HELP = "engage (on), release (off) or show (status) the kill switch"


def register(commands: argparse._SubParsersAction[Any]) -> None:
    parser = commands.add_parser("kill-switch", help=HELP, description=HELP)
    parser.add_argument("action", choices=("on", "off", "status"), nargs="?", default="status")
    parser.add_argument("--reason", help="why (required for 'on')")
    parser.add_argument("--by", help="who (default: local user@host)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, account: Account, output: Output) -> int:
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
