"""``cc-reaper apply PLAN.json``: carry out a plan, deciding each token again now.

A plan is refused whole (one line, exit 2, no call that cancels) when it was edited, is for
another account or Region, or has expired. Otherwise its tokens go through the function's own
decide path (``cc-reaper cancel``'s) with the plan's config: only those still stale are
cancelled, the others are skipped with why. Every decision is audited with delivery id
``plan-<id>`` and reason ``plan <id> approved by <NAME>``; a dry run (the default) uses
``plan-<id>-dry-run-<n>``, so that it never stands in for the real apply (the audit keeps one
decision per token and delivery: a second real apply of one plan cancels nothing twice).
"""

from __future__ import annotations

import argparse
import re
import uuid
from collections import Counter
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from reaper.explain import duration, why
from reaper.models import Decision, Mode, Outcome
from reaper.parsing import TokenRequest
from reaper.settings import Settings
from reaper.wiring import AwsClients, build_audit_table, build_cloud_control, build_reaper
from rich.table import Table

from reaper_cli import planfile
from reaper_cli.account import ALL, Account
from reaper_cli.errors import USAGE, CliError
from reaper_cli.plan import where
from reaper_cli.render import OUTCOME_STYLE, Output, decision_json
from reaper_cli.safety import confirm_cancelling
from reaper_cli.sweep import ProgressCloudControl
from reaper_cli.tokens import CLI_SOURCE

HELP = "carry out a plan: cancel its tokens that are still stale (dry run by default)"
_APPROVER = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")


class Result(StrEnum):
    """What apply did with one planned token."""

    CANCELLED = "cancelled"
    WOULD_CANCEL = "would_cancel"
    SKIPPED = "skipped"
    DEFERRED = "deferred"
    FAILED = "failed"
    ALREADY_APPLIED = "already_applied"


RESULT_OF = {
    Outcome.CANCELLED: Result.CANCELLED,
    Outcome.CANCEL_COMPLETE: Result.CANCELLED,
    Outcome.DRY_RUN: Result.WOULD_CANCEL,
    Outcome.DEFERRED_CAP: Result.DEFERRED,
    Outcome.DEFERRED_KILL_SWITCH: Result.DEFERRED,
    Outcome.FAILED: Result.FAILED,
    Outcome.INVALID: Result.FAILED,
}  # the rest (not_stale, terminal, not_found, filtered): no longer stale, skipped


def approver(text: str) -> str:
    name = text.strip()
    if not _APPROVER.match(name):
        raise argparse.ArgumentTypeError("must be 1 to 128 printable characters")
    return name


def register(commands: argparse._SubParsersAction[Any]) -> None:
    parser = commands.add_parser("apply", help=HELP, description=HELP)
    parser.add_argument("plan", type=Path, metavar="PLAN.json", help="a file of cc-reaper plan")
    parser.add_argument(
        "--approved-by",
        required=True,
        type=approver,
        metavar="NAME",
        help="who approved the plan (in each decision's reason)",
    )
    parser.add_argument(
        "--no-dry-run", action="store_true", help="really cancel (default: dry run)"
    )
    parser.add_argument("--yes", action="store_true", help="confirm --no-dry-run without a prompt")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, account: Account, output: Output) -> int:
    plan = planfile.load(args.plan)
    now = datetime.now(UTC)
    if plan.expired(now):
        raise CliError(
            f"plan {plan.id} expired at {planfile.iso(plan.expires_at)}: make a new plan", USAGE
        )
    account_id, region = where(account)
    if (account_id, region) != (plan.account, plan.region):
        raise CliError(
            f"plan {plan.id} is for account {plan.account} in {plan.region}; these credentials "
            f"are for account {account_id} in {region}: nothing was cancelled",
            USAGE,
        )
    config = plan.config.model_copy(update={"dry_run": not args.no_dry_run})
    tokens = tuple(row["token"] for row in plan.tokens)
    confirm_cancelling(args, config, f"the {len(tokens)} request(s) of plan {plan.id} still stale")
    settings = account.settings(config, *ALL)
    delivery_id = f"plan-{plan.id}"
    if config.dry_run:
        delivery_id += f"-dry-run-{uuid.uuid4().hex[:8]}"
    reason = f"plan {plan.id} approved by {args.approved_by}"
    decisions: list[Decision] = []
    if tokens:
        with output.spinner() as progress:
            counted = ProgressCloudControl(build_cloud_control(settings, account.clients), progress)
            reaper = build_reaper(settings, account.clients, cloud_control=counted)
            request = TokenRequest(tokens, CLI_SOURCE, Mode.CANCEL, reason=reason)
            decisions = reaper.run(delivery_id).decide_tokens(request, delivery_id=delivery_id)
    results = _results(plan, decisions, settings, account.clients, delivery_id)
    if output.json:
        for result, decision in results:
            output.emit({**decision_json(decision), "result": result.value})
    else:
        kind = "dry run, nothing cancelled" if config.dry_run else "cancelling"
        title = f"Apply plan {plan.id} ({kind}), approved by {args.approved_by}"
        output.out.print(_table(title, plan, results))
        counts = Counter(result.value for result, _ in results)
        summary = ", ".join(f"{n} {result}" for result, n in sorted(counts.items()))
        output.out.print(f"{summary or 'no tokens in the plan'}; delivery id {delivery_id}")
        output.out.print(f"reason (audited with each decision): {reason}")
        if config.dry_run and counts[Result.WOULD_CANCEL]:
            output.out.print("Dry run: nothing was cancelled. Cancel with --no-dry-run --yes.")
    return 1 if any(result is Result.FAILED for result, _ in results) else 0


def _results(
    plan: planfile.Plan,
    decisions: list[Decision],
    settings: Settings,
    clients: AwsClients,
    delivery_id: str,
) -> list[tuple[Result, Decision]]:
    """Each planned token's result, in plan order. A token without a decision now was
    decided by an earlier apply of this plan: that decision, read back from the audit."""
    by_token = {d.token: d for d in decisions}
    audit = build_audit_table(settings, clients)
    results: list[tuple[Result, Decision]] = []
    for row in plan.tokens:
        decision = by_token.get(row["token"])
        if decision is None:
            earlier = audit.find_decision(row["token"], CLI_SOURCE, delivery_id)
            if earlier is not None:
                results.append((Result.ALREADY_APPLIED, earlier))
            continue
        results.append((RESULT_OF.get(decision.outcome, Result.SKIPPED), decision))
    return results


def _table(title: str, plan: planfile.Plan, results: list[tuple[Result, Decision]]) -> Table:
    planned = {row["token"]: row for row in plan.tokens}
    table = Table(title=title, title_justify="left")
    for column in ("token", "type", "op", "planned age", "result"):
        table.add_column(column, no_wrap=True)
    table.add_column("why", overflow="fold")
    for result, d in results:
        row = planned[d.token]
        text = why(d.but(reason=None))  # the reason, the same for all, is printed once
        if result is Result.ALREADY_APPLIED:
            text = f"{d.outcome.value} at {d.decided_at:%Y-%m-%d %H:%M:%S}Z: {text}"
        elif result is Result.SKIPPED:
            text = f"no longer stale ({d.outcome.value}): {text}"
        table.add_row(
            d.token,
            row["typeName"] or "-",
            row["operation"] or "-",
            duration(row["ageSeconds"]),
            result.value,
            text,
            style=OUTCOME_STYLE.get(d.outcome),
        )
    return table
