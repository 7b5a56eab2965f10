"""A real cancellation needs an explicit yes: --yes, or a typed answer at a terminal."""

from __future__ import annotations

import argparse
import sys

from reaper.config import ReaperConfig

from reaper_cli.errors import USAGE, CliError


def confirm_cancelling(args: argparse.Namespace, config: ReaperConfig, what: str) -> None:
    if config.dry_run or args.yes:
        return
    if not sys.stdin.isatty():
        raise CliError("--no-dry-run cancels requests: add --yes to confirm", USAGE)
    answer = input(f"This will cancel {what}. Type 'yes' to go on: ")
    if answer.strip().lower() != "yes":
        raise CliError("not confirmed: nothing was cancelled", USAGE)
