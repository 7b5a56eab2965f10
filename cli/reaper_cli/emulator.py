"""``cc-reaper emulator``: the Cloud Control emulator, with ``ccapi-emulator``'s own flags."""

from __future__ import annotations

import argparse
from typing import Any

from reaper_cli.account import Account
from reaper_cli.render import Output

HELP = "run the local Cloud Control emulator (all flags go to ccapi-emulator; --help for them)"


def register(commands: argparse._SubParsersAction[Any]) -> None:
    parser = commands.add_parser("emulator", help=HELP, description=HELP, add_help=False)
    # Every argument after the command is the emulator's: main() hands them over unparsed.
    parser.set_defaults(run=run, needs_account=False, emulator_args=[])


def run(args: argparse.Namespace, account: Account | None, output: Output) -> int:
    from ccapi_emulator.__main__ import main  # noqa: PLC0415 - only this command needs it

    return main(list(args.emulator_args))
