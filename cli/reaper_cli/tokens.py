"""``cc-reaper cancel`` and ``cc-reaper status``: named tokens, the Lambda's decisions."""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from reaper.errors import RequestNotFound
from reaper.explain import duration
from reaper.models import Decision, Mode, Outcome, Source, earliest
from reaper.parsing import TOKEN_RULE, TokenRequest, is_valid_token
from reaper.policy import assess
from reaper.wiring import build_audit_table, build_cloud_control, build_readers, build_reaper
from rich.table import Table

from reaper_cli.account import ALL, Account, Need, operator_name
from reaper_cli.config_options import add_config_options, build_config
from reaper_cli.errors import USAGE, CliError
from reaper_cli.fanout import Done, Work
from reaper_cli.fleet import fan_out, member_switch, read_only_settings
from reaper_cli.render import Output, decision_json, decisions_table
from reaper_cli.safety import confirm_cancelling
from reaper_cli.targets import add_target_options, wants_targets

if TYPE_CHECKING:
    import boto3
    from reaper.adapters.audit_table import AuditTable
    from reaper.adapters.cloud_control import CloudControlAdapter
    from reaper.config import ReaperConfig

    from reaper_cli.targets import Target

# The audit's source for everything an operator decides from the CLI (cancel, unblock).
CLI_SOURCE = Source.CLI

CANCEL_HELP = "decide named tokens now, as the Lambda would (dry run by default)"
STATUS_HELP = "Cloud Control's view of tokens, first sighting, last audit and the verdict"


def register(commands: argparse._SubParsersAction[Any]) -> None:
    cancel = commands.add_parser("cancel", help=CANCEL_HELP, description=CANCEL_HELP)
    cancel.add_argument("tokens", nargs="+", metavar="TOKEN", help="request token(s)")
    cancel.add_argument("--reason", help="why (stored in the audit with each decision)")
    add_config_options(cancel)
    cancel.set_defaults(run=run_cancel)

    status = commands.add_parser("status", help=STATUS_HELP, description=STATUS_HELP)
    status.add_argument("tokens", nargs="+", metavar="TOKEN", help="request token(s)")
    add_config_options(status, cancels=False)
    add_target_options(status)
    status.set_defaults(run=run_status)


def valid_tokens(tokens: list[str]) -> tuple[str, ...]:
    for token in tokens:
        if not is_valid_token(token):
            raise CliError(f"not a request token: {token[:140]!r} ({TOKEN_RULE})", USAGE)
    return tuple(dict.fromkeys(tokens))


def run_cancel(args: argparse.Namespace, account: Account, output: Output) -> int:
    tokens = valid_tokens(args.tokens)
    config = build_config(args)
    confirm_cancelling(args, config, f"{len(tokens)} Cloud Control request(s) if stale")
    reaper = build_reaper(account.settings(config, *ALL), account.clients)
    who = operator_name()
    reason = f"cc-reaper cancel by {who}" + (f": {args.reason}" if args.reason else "")
    delivery_id = f"cc-reaper-{uuid.uuid4()}"
    with output.spinner() as progress:
        # A cancel is followed until Cloud Control ends it: seconds, sometimes minutes.
        progress.add_task(f"deciding {len(tokens)} token(s), following each cancel")
        decisions = reaper.run(delivery_id).decide_tokens(
            TokenRequest(tokens=tokens, source=CLI_SOURCE, mode=Mode.CANCEL, reason=reason),
            delivery_id,
        )
    if output.json:
        for decision in decisions:
            output.emit(decision_json(decision))
    else:
        title = "Dry run (nothing cancelled)" if config.dry_run else "Cancel"
        output.out.print(decisions_table(f"{title}: {delivery_id}", decisions))
    return 1 if any(d.outcome is Outcome.FAILED for d in decisions) else 0


def run_status(args: argparse.Namespace, account: Account, output: Output) -> int:
    tokens = valid_tokens(args.tokens)
    config = build_config(args)
    if wants_targets(args):
        return fan_out(
            args,
            account,
            output,
            status_work(tokens, config),
            title=f"Status of {len(tokens)} token(s)",
            columns=("found", "stale"),
        )
    settings = account.settings(config, Need.TABLE)
    cloud_control = build_cloud_control(settings, account.clients)
    audit = build_audit_table(settings, account.clients)
    with output.spinner() as progress:
        task = progress.add_task(f"reading {len(tokens)} token(s)", total=len(tokens))
        rows = status_rows(tokens, config, cloud_control, audit, lambda: progress.advance(task))
    if output.json:
        for row in rows:
            output.emit(
                {**row, "lastDecision": row["lastDecision"] and decision_json(row["lastDecision"])}
            )
    else:
        output.out.print(_status_table(rows))
    return 1 if any("error" in row for row in rows) else 0


def status_rows(
    tokens: tuple[str, ...],
    config: ReaperConfig,
    cloud_control: CloudControlAdapter,
    audit: AuditTable,
    advance: Callable[[], None],
) -> list[dict[str, Any]]:
    own = audit.first_seen(list(tokens))
    packed = audit.packed_first_seen()
    first_seen = {t: s for t in tokens if (s := earliest(own.get(t), packed.get(t)))}
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for token in tokens:
        advance()
        history = audit.by_token(token)
        sighting = first_seen.get(token)
        row: dict[str, Any] = {
            "token": token,
            "firstSeen": sighting.at if sighting else None,
            "startedBy": sighting.started_by if sighting else None,
            "userAgent": sighting.user_agent if sighting else None,
            "lastDecision": _last(history),
        }
        try:
            request = cloud_control.get_status(token)
        except RequestNotFound as exc:
            row["error"] = {"code": exc.code, "message": "Cloud Control does not know this token"}
            rows.append(row)
            continue
        assessment = assess(request, row["firstSeen"], now, config)
        row.update(
            typeName=request.type_name,
            identifier=request.identifier,
            operation=request.operation,
            operationStatus=request.status,
            eventTime=request.event_time,
            statusMessage=request.status_message,
            errorCode=request.error_code,
            ageSeconds=assessment.age_seconds,
            thresholdMinutes=assessment.threshold_minutes,
            staleAt=assessment.stale_at,
            verdict=assessment.skip.value if assessment.skip else "stale",
        )
        rows.append(row)
    return rows


def _last(history: list[Decision]) -> Decision | None:
    return max(history, key=lambda d: d.decided_at) if history else None


def _status_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="Cloud Control requests", title_justify="left")
    for column in ("token", "type", "op", "status", "age / threshold", "verdict"):
        table.add_column(column, no_wrap=True)
    for column in ("first seen", "last audit"):
        table.add_column(column, overflow="fold")
    for row in rows:
        last: Decision | None = row["lastDecision"]
        last_text = (
            f"{last.outcome.value} ({last.source.value}, {last.decided_at:%Y-%m-%d %H:%M}Z)"
            if last
            else "-"
        )
        seen = row["firstSeen"]
        seen_text = f"{seen:%Y-%m-%d %H:%M:%S}Z" if seen else "-"
        if "error" in row:
            table.add_row(
                row["token"],
                "-",
                "-",
                "[red]not found[/]",
                "-",
                row["error"]["message"],
                seen_text,
                last_text,
            )
            continue
        verdict = row["verdict"]
        verdict_text = "stale: would cancel" if verdict == "stale" else verdict
        table.add_row(
            row["token"],
            row["typeName"],
            row["operation"],
            row["operationStatus"].value + (f" ({row['errorCode']})" if row["errorCode"] else ""),
            f"{duration(row['ageSeconds'])} / {duration(row['thresholdMinutes'] * 60)}",
            verdict_text,
            seen_text,
            last_text,
        )
    return table


def status_work(tokens: tuple[str, ...], config: ReaperConfig) -> Work:
    """``status TOKEN...`` in each target (read-only): which tokens it knows, their verdicts."""

    def work(target: Target, session: boto3.session.Session) -> Done:
        cloud_control, audit = build_readers(read_only_settings(config), session)
        member_switch(audit)  # the member's table is there and readable
        rows = status_rows(tokens, config, cloud_control, audit, lambda: None)
        found = [r for r in rows if "error" not in r]
        for row in rows:
            last = row["lastDecision"]
            row["lastDecision"] = last and decision_json(last)
        return Done(
            {"found": len(found), "stale": sum(r["verdict"] == "stale" for r in found)},
            {"tokens": rows},
        )

    return work
