"""``cc-reaper plan``: what a sweep would cancel, decided by the function's policy, written to a
file that ``cc-reaper apply`` checks and carries out.

Read-only and stack-less: Cloud Control's ListResourceRequests (and GetResourceRequestStatus
for a stale request with a hook) and STS GetCallerIdentity, nothing else. No audit table is
read, so no first sighting is known: ages are from Cloud Control's EventTime alone.
"""

from __future__ import annotations

import argparse
import json
import re
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from reaper.config import MAX_THRESHOLD_MINUTES, ReaperConfig
from reaper.errors import CloudControlError, RequestNotFound
from reaper.explain import duration
from reaper.models import ACTIVE_STATUSES, RequestStatus
from reaper.policy import Assessment, assess
from reaper.ports import CloudControl
from reaper.wiring import build_cloud_control, client_config
from rich.table import Table

from reaper_cli import planfile
from reaper_cli.account import Account
from reaper_cli.config_options import add_config_options, build_config
from reaper_cli.errors import USAGE, CliError
from reaper_cli.render import Output

HELP = "read-only: what a sweep would cancel now, and why, optionally saved as a plan file"
AGE_NOTE = (
    "Ages are from EventTime only (a plan reads no audit table: first sightings unknown); "
    "apply decides each request again."
)
DEFAULT_EXPIRES_IN = timedelta(hours=24)
_DURATION = re.compile(r"^(\d{1,6})([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def expires_in(text: str) -> timedelta:
    """``90m``, ``24h``, ``2d``: at least a minute, at most Cloud Control's 7 days."""
    found = _DURATION.match(text)
    if not found:
        raise argparse.ArgumentTypeError(f"use a number and s, m, h or d, e.g. 24h (got {text!r})")
    span = timedelta(seconds=int(found[1]) * _UNIT_SECONDS[found[2]])
    if not timedelta(minutes=1) <= span <= timedelta(minutes=MAX_THRESHOLD_MINUTES):
        raise argparse.ArgumentTypeError("must be between 1m and 7d")
    return span


def register(commands: argparse._SubParsersAction[Any]) -> None:
    parser = commands.add_parser("plan", help=HELP, description=HELP)
    parser.add_argument("--out", type=Path, metavar="PLAN.json", help="write the plan file")
    parser.add_argument(
        "--expires-in",
        type=expires_in,
        default=DEFAULT_EXPIRES_IN,
        metavar="DURATION",
        help="how long apply accepts the plan, e.g. 90m, 24h (default), 2d",
    )
    add_config_options(parser, cancels=False)
    group = parser.add_argument_group("stored in the plan, used by apply")
    group.add_argument("--max-cancellations", type=int, help="cap on cancellations in apply")
    group.add_argument(
        "--cancel-follow-seconds", type=int, help="how long apply follows each cancel"
    )
    parser.set_defaults(run=run)


def where(account: Account) -> tuple[str, str]:
    """The account (STS GetCallerIdentity) and Region (the Cloud Control client's)."""
    sts: Any = account.session.client("sts", config=client_config())  # no mypy_boto3_sts here
    identity = sts.get_caller_identity()
    return str(identity["Account"]), account.clients.cloud_control.meta.region_name


def run(args: argparse.Namespace, account: Account, output: Output) -> int:
    config = build_config(args)  # dry_run: always true here (plan takes no --no-dry-run)
    account_id, region = where(account)
    cloud_control = build_cloud_control(account.settings(config), account.clients)
    now = datetime.now(UTC)
    listed = 0
    verdicts: Counter[str] = Counter()
    stale: list[tuple[RequestStatus, Assessment]] = []
    with output.spinner() as progress:
        task = progress.add_task("listing", total=None)
        for page in cloud_control.list_requests(ACTIVE_STATUSES):
            listed += len(page)
            progress.update(task, description=f"listed {listed} requests")
            for listed_request in page:
                request, assessment = _assess(cloud_control, listed_request, now, config)
                verdicts[assessment.skip.value if assessment.skip else "stale"] += 1
                if assessment.stale:
                    stale.append((request, assessment))
    plan_id = str(uuid.uuid4())
    document = planfile.seal(
        {
            "kind": planfile.KIND,
            "version": planfile.VERSION,
            "id": plan_id,
            "createdAt": planfile.iso(now),
            "expiresAt": planfile.iso(now + args.expires_in),
            "account": account_id,
            "region": region,
            "configDigest": planfile.sha256(planfile.config_json(config)),
            "config": planfile.config_json(config),
            "tokens": [_row(request, assessment) for request, assessment in stale],
        }
    )
    if args.out is not None:
        _write(args.out, document)
    if output.json:
        output.emit(document)
        return 0
    output.out.print(_table(document))
    counts = ", ".join(f"{n} {verdict}" for verdict, n in sorted(verdicts.items()))
    output.out.print(f"Listed {listed} PENDING/IN_PROGRESS request(s): {counts or 'none'}.")
    output.out.print(AGE_NOTE)
    if len(stale) > config.max_cancellations_per_run:
        output.out.print(
            f"apply cancels at most {config.max_cancellations_per_run} "
            "(max_cancellations_per_run): the rest is deferred_cap."
        )
    if args.out is not None:
        output.out.print(
            f"Plan written to {args.out} (expires {document['expiresAt']}). Nothing was "
            f"cancelled. Apply it: cc-reaper apply {args.out} --approved-by NAME "
            "--no-dry-run --yes"
        )
    else:
        output.out.print("Nothing was cancelled. Save the plan with --out PLAN.json to apply it.")
    return 0


def _assess(
    cloud_control: CloudControl, request: RequestStatus, now: datetime, config: ReaperConfig
) -> tuple[RequestStatus, Assessment]:
    """The sweep's assessment with no first sighting: EventTime alone. A stale request with a
    hook is read once more, as the sweep does: only its status tells if the hook still runs."""
    assessment = assess(request, None, now, config)
    if assessment.stale and request.hooks_token and request.hook_status is None:
        try:
            request = cloud_control.get_status(request.token)
        except (CloudControlError, RequestNotFound):
            return request, assessment
        assessment = assess(request, None, now, config)
    return request, assessment


def _row(request: RequestStatus, assessment: Assessment) -> dict[str, Any]:
    age = duration(assessment.age_seconds)
    threshold = duration(assessment.threshold_minutes * 60)
    return {
        "token": request.token,
        "typeName": request.type_name,
        "identifier": request.identifier,
        "operation": request.operation,
        "status": request.status.value,
        "ageSeconds": assessment.age_seconds,
        "thresholdMinutes": assessment.threshold_minutes,
        "reason": f"{request.status.value} for {age} (EventTime) ≥ threshold {threshold}",
    }


def _write(path: Path, document: dict[str, Any]) -> None:
    """Whole or not at all: written next to the target, then renamed over it."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        # Indented for a reader: the digest is over the parsed values, not the layout.
        text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)
        partial.write_text(text + "\n", encoding="utf-8")
        partial.replace(path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise CliError(f"cannot write plan {path}: {exc.strerror}", USAGE) from None


def _table(document: dict[str, Any]) -> Table:
    rows = document["tokens"]
    table = Table(
        title=f"Plan {document['id']}: {len(rows)} stale request(s) would be cancelled "
        f"(account {document['account']}, {document['region']})",
        title_justify="left",
    )
    for column in ("token", "type", "op", "status", "age / threshold"):
        table.add_column(column, no_wrap=True)
    table.add_column("why", overflow="fold")
    for row in rows:
        table.add_row(
            row["token"],
            row["typeName"] or "-",
            row["operation"] or "-",
            row["status"],
            f"{duration(row['ageSeconds'])} / {duration(row['thresholdMinutes'] * 60)}",
            row["reason"],
        )
    return table
