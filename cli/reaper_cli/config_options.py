"""Flags that mirror ``reaper.config.ReaperConfig``, so a laptop run decides as the Lambda does."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from reaper.config import ReaperConfig

from reaper_cli.errors import USAGE, CliError


def _rule(text: str) -> dict[str, Any]:
    glob, sep, minutes = text.partition("=")
    if not sep or not glob or not minutes.isdigit():
        raise argparse.ArgumentTypeError(
            f"use GLOB=MINUTES, e.g. 'AWS::RDS::*=1440' (got {text!r})"
        )
    return {"type": glob, "minutes": int(minutes)}


def add_config_options(parser: argparse.ArgumentParser, *, cancels: bool = True) -> None:
    group = parser.add_argument_group("policy (defaults: ReaperConfig's, or --config)")
    add = group.add_argument
    add("--config", metavar="FILE.json", type=Path, help="a ReaperConfig as JSON (REAPER_CONFIG)")
    add("--threshold-minutes", type=int, help="default age after which a request is stale")
    add(
        "--rule",
        type=_rule,
        action="append",
        metavar="GLOB=MINUTES",
        help="threshold for matching TypeNames, before the config's rules and the built-in "
        "ones (repeatable)",
    )
    add(
        "--no-builtin-rules",
        action="store_true",
        help="drop the built-in day for long-running types (RDS, EKS, ...): they get "
        "the default threshold unless a --rule matches",
    )
    add("--include", action="append", metavar="GLOB", help="only these TypeNames (repeatable)")
    add("--exclude", action="append", metavar="GLOB", help="never these TypeNames (repeatable)")
    add("--calls-per-second", type=float, help="Cloud Control calls/s (shared with the Lambda)")
    if not cancels:
        return
    add("--max-cancellations", type=int, help="cap on cancellations in this run")
    add("--cancel-follow-seconds", type=int, help="how long to follow a cancel to CANCEL_COMPLETE")
    add(
        "--no-dry-run",
        action="store_true",
        help="really cancel (default: dry run, record what would be cancelled)",
    )
    add("--yes", action="store_true", help="confirm --no-dry-run without a prompt")


def build_config(args: argparse.Namespace) -> ReaperConfig:
    """--config (or the defaults), then each flag given, validated by ReaperConfig itself."""
    base = ReaperConfig()
    if args.config is not None:
        try:
            text = args.config.read_text()
        except OSError as exc:
            raise CliError(f"cannot read --config {args.config}: {exc.strerror}", USAGE) from None
        base = ReaperConfig.model_validate_json(text)
    values = base.model_dump()
    flags = {
        "default_threshold_minutes": args.threshold_minutes,
        "include_types": args.include,
        "exclude_types": args.exclude,
        "calls_per_second": args.calls_per_second,
        "max_cancellations_per_run": getattr(args, "max_cancellations", None),
        "cancel_follow_seconds": getattr(args, "cancel_follow_seconds", None),
        "blocking_threshold_minutes": getattr(args, "blocking_threshold_minutes", None),
    }
    values.update({k: v for k, v in flags.items() if v is not None})
    if args.rule:
        values["threshold_rules"] = [*args.rule, *values["threshold_rules"]]
    if args.no_builtin_rules:
        values["builtin_rules"] = False
    values["dry_run"] = not getattr(args, "no_dry_run", False)
    return ReaperConfig.model_validate(values)
