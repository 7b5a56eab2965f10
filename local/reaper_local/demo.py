"""`make demo`: what the reaper does in an account, end to end, in well under two minutes.

moto's server and the Cloud Control emulator run in this process; the synthesized stack is
created in moto's CloudFormation, so the audit table, queues and rules have the names the
template gives them. Real boto3 CreateResource/UpdateResource/DeleteResource calls start a mix
of requests on an emulator clock that runs ten hours in the past and is then moved to the
present; the real handler (``reaper.handler.lambda_handler``, environment read back from the
deployed function) then gets a scheduled sweep, an SQS batch, a custom cancel event, a
CloudTrail record of a call that started a request, and one of a deployment's call refused with
ConcurrentOperationException (demo_unblock.py; the deployment's retry then goes through), the
last three put on moto's EventBridge and delivered by the stack's rules to the work queue. A
test rule on the default bus collects the reaper's own events (demo_readouts.py). The report
is read back from the audit table, the queues and the emulator (leftovers, the hook a stale
request waits on, the events received included) and compared with what the scenario expected
(demo_checks.py). Last, an operator runs the CLI as a user would (demo_operator.py: a
subprocess pointed here by AWS_ENDPOINT_URL_<SERVICE>): `cc-reaper plan` over a few more stale
requests, the approval (`cc-reaper apply --approved-by`), and `cc-reaper report`, whose HTML
file's path is printed (``--report``, default cdk.out/demo-report.html). Exit status 0 only if
every check holds.

Run: ``python -m reaper_local.demo [--log-level INFO]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ccapi_emulator import EmulatorConfig, Lifecycle
from reaper import contracts
from reaper.explain import why
from reaper.models import Outcome
from reaper.sizing import FOLLOW_UP_FIRST_DELAY_SECONDS
from rich.console import Console
from rich.table import Table

from reaper_local import demo_checks, demo_operator
from reaper_local.demo_checks import Check, ReadBack
from reaper_local.demo_operator import Operated, Operator, cli_env
from reaper_local.demo_readouts import EventTap, events_table, leftovers_table
from reaper_local.demo_requests import (
    ClockFollower,
    scheduled_event,
    start_requests,
    started_record,
)
from reaper_local.demo_scenario import (
    BATCH_REASON,
    CANCELLED_CREATE_LEAVES,
    CUSTOM_REASON,
    FORGOTTEN_TOKEN,
    HISTORY_SECONDS,
    HOOKS,
    LIFECYCLES,
    MALFORMED_BODY,
    STACK_CONTEXT,
    by_name,
    plan,
)
from reaper_local.demo_unblock import BlockedDeployment, Unblocking, story
from reaper_local.localstack import REPO_ROOT, LocalAccount
from reaper_local.runner import LocalContext, SqsPoller

__all__ = ["Check", "Demo", "ReadBack", "main"]

CONSOLE_MIN_WIDTH = 130
RECEIVE_ATTEMPTS = 20
# Where the operator's `cc-reaper report` goes (cdk.out/ is in .gitignore).
DEFAULT_REPORT = REPO_ROOT / "cdk.out" / "demo-report.html"


@dataclass
class Timings:
    started: float = field(default_factory=time.monotonic)
    marks: dict[str, float] = field(default_factory=dict)

    def mark(self, name: str, since: float) -> None:
        self.marks[name] = time.monotonic() - since

    @property
    def total(self) -> float:
        return time.monotonic() - self.started


# ---------------------------------------------------------------------- the demo
class Demo:
    def __init__(
        self, console: Console, log_level: str, report_path: Path = DEFAULT_REPORT
    ) -> None:
        self.console = console
        self.log_level = log_level
        self.report_path = report_path
        self.stack_name = ""
        self.function_env: dict[str, str] = {}
        self.timings = Timings()
        self.planned = plan()
        self.sweep_result: dict[str, Any] = {}
        self.unblocking = Unblocking()
        self.tap: EventTap | None = None

    def step(self, text: str) -> None:
        self.console.print(f"[bold cyan]▶[/] {text}")

    def run(self) -> int:
        config = EmulatorConfig(
            manual_clock=True,
            start_time=time.time() - HISTORY_SECONDS,
            rate_per_second=None,
            cancel_complete_after_seconds=1.0,
            default_lifecycle=Lifecycle.succeed(30),
            lifecycles=LIFECYCLES,
            hooks=HOOKS,
            cancelled_create_leaves=CANCELLED_CREATE_LEAVES,
        )
        with LocalAccount(config) as account:
            self.step(
                f"moto server at {account.moto_endpoint}, Cloud Control emulator at "
                f"{account.emulator.endpoint_url} (clock set 10 h in the past)"
            )
            since = time.monotonic()
            self.step("Synthesizing the CDK app and creating the stack in moto's CloudFormation")
            stack = account.synthesize_and_deploy(STACK_CONTEXT)
            self.timings.mark("synth + deploy", since)
            table = stack.outputs[contracts.OUTPUT_AUDIT_TABLE_NAME]
            self.console.print(f"  {stack.stack_name}: {stack.status}; table {table}")
            self.console.print(
                "  moto differs from AWS here: it skips "
                f"{', '.join(stack.skipped_resource_types)}; the SQS event source mapping is "
                "disabled (this demo plays the poller) and the schedule rule has no target "
                "(this demo starts the sweep)."
            )
            env = {
                **account.function_env(stack),
                **account.endpoint_env(),
                contracts.ENV_POWERTOOLS_LOG_LEVEL: self.log_level,
                contracts.ENV_TRACE_DISABLED: "true",
                "POWERTOOLS_METRICS_DISABLED": "true" if self.log_level != "DEBUG" else "false",
            }
            os.environ.update(env)
            self.stack_name, self.function_env = stack.stack_name, env
            reaper_config = json.loads(env[contracts.ENV_REAPER_CONFIG])
            self.console.print(
                "  REAPER_CONFIG (from the template): "
                f"dry_run={reaper_config['dry_run']}, "
                f"max_cancellations_per_run={reaper_config['max_cancellations_per_run']}, "
                f"exclude_types={reaper_config['exclude_types']}, default threshold "
                f"{reaper_config['default_threshold_minutes']} min, AWS::RDS::* 1440 min, "
                f"blocking_threshold_minutes={reaper_config['blocking_threshold_minutes']}, "
                f"hooks_in_progress={reaper_config['hooks_in_progress']}, "
                f"verify_leftovers={reaper_config['verify_leftovers']}"
            )
            self.console.print(
                "  emulator: hooks "
                + ", ".join(f"{glob} {spec.status} for good" for glob, spec in HOOKS.items())
                + f"; cancelled_create_leaves {CANCELLED_CREATE_LEAVES}"
            )
            self.tap = EventTap(account.client("events"), account.client("sqs"))
            pattern = self.tap.install()
            self.console.print(f"  test rule on the default bus: {pattern} → an SQS queue")

            since = time.monotonic()
            self.step("Starting Cloud Control requests with boto3 (10 h ago up to 20 min ago)")
            start_requests(account.client("cloudcontrol"), account.emulator, self.planned)
            with ClockFollower(account.emulator):
                self.feed_the_handler(account, stack.outputs)
                self.timings.mark("reaper", since)
                return self.report(account, stack.outputs)

    # ------------------------------------------------------------------ the five inputs
    def feed_the_handler(self, account: LocalAccount, outputs: dict[str, str]) -> None:
        from reaper.handler import lambda_handler  # noqa: PLC0415 - after the env is set

        names = by_name(self.planned)
        sqs = account.client("sqs")
        work_queue = outputs[contracts.OUTPUT_WORK_QUEUE_URL]
        function_name = outputs[contracts.OUTPUT_FUNCTION_NAME]
        poller = SqsPoller(sqs, work_queue, lambda_handler, function_name)

        self.step("1. Scheduled sweep (EventBridge schedule → function)")
        rule = outputs[contracts.OUTPUT_SCHEDULE_RULE_NAME]
        event = scheduled_event("123456789012", account.region, rule)
        self.sweep_result = lambda_handler(event, LocalContext(function_name))
        self.console.print(f"  handler returned {self.sweep_result}")

        self.step("2. SQS batch on the work queue (sent, received, handed over as Lambda does)")
        bodies = [
            names["bucket"].token,
            json.dumps(
                {
                    "requestTokens": [names["database"].token, names["table"].token],
                    "reason": BATCH_REASON,
                }
            ),
            names["bucket-update"].token,
            FORGOTTEN_TOKEN,
            MALFORMED_BODY,
        ]
        for body in bodies:
            sqs.send_message(QueueUrl=work_queue, MessageBody=body)
        self.poll(poller, len(bodies), "batch")

        events = account.client("events")
        self.step("3. Custom cancel event (PutEvents → CancelRule → work queue → function)")
        detail = {
            "requestTokens": [names["logs-1"].token, names["logs-3"].token],
            "reason": CUSTOM_REASON,
        }
        self.put_and_poll(
            events,
            poller,
            contracts.CUSTOM_EVENT_SOURCE,
            contracts.CUSTOM_EVENT_DETAIL_TYPE,
            detail,
        )

        self.step(
            "4. CloudTrail event (PutEvents → CloudTrailRule → work queue → function; in AWS "
            "CloudTrail emits it: PutEvents refuses sources starting with 'aws.', moto does not)"
        )
        trail = started_record(names["logs-young"], account.region)
        self.put_and_poll(events, poller, trail["source"], trail["detail-type"], trail["detail"])

        self.step(
            "5. A deployment blocked by a stuck request (ConcurrentOperationException → "
            "CloudTrail record → ConflictRule → work queue → function)"
        )
        deployment = BlockedDeployment(
            self.console, account.client("cloudcontrol"), account.emulator
        )
        self.unblocking = deployment.result
        blocker = names["role-update"]
        record = deployment.refused_record(blocker)
        self.put_and_poll(events, poller, record["source"], record["detail-type"], record["detail"])
        deployment.retry(blocker)

        self.step(
            "6. Follow-ups (the SQS path's cancels were accepted, not waited for: a delayed "
            "work-queue message reads each request once and records its final state)"
        )
        self.poll_follow_ups(poller)

    def put_and_poll(
        self, events: Any, poller: SqsPoller, source: str, detail_type: str, detail: Any
    ) -> None:
        response = events.put_events(
            Entries=[{"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail)}]
        )
        if response["FailedEntryCount"]:
            raise RuntimeError(f"PutEvents refused the event: {response['Entries']}")
        self.poll(poller, 1, "event")

    def poll_follow_ups(self, poller: SqsPoller) -> None:
        """Hand over what becomes visible on the work queue until the follow-ups' first
        delay (and a margin) has passed since the last one came."""
        quiet_for = FOLLOW_UP_FIRST_DELAY_SECONDS + 2
        last = time.monotonic()
        while time.monotonic() - last < quiet_for:
            messages = poller.receive()
            if not messages:
                time.sleep(0.2)
                continue
            batch = poller.invoke(messages)
            failed = len(batch.failed_ids)
            self.console.print(
                f"  follow-ups {len(messages)}: {len(messages) - failed} done, "
                f"{failed} returned to the queue"
            )
            last = time.monotonic()

    def poll(self, poller: SqsPoller, expected: int, what: str) -> None:
        """Receive until ``expected`` messages were handed to the function."""
        handed = 0
        for _ in range(RECEIVE_ATTEMPTS):
            messages = poller.receive()
            if messages:
                batch = poller.invoke(messages)
                handed += len(messages)
                failed = len(batch.failed_ids)
                self.console.print(
                    f"  {what} of {len(messages)} message(s): "
                    f"{len(messages) - failed} done, {failed} returned to the queue"
                )
            if handed >= expected:
                return
            time.sleep(0.05)
        raise RuntimeError(f"only {handed} of {expected} messages reached the work queue")

    # ------------------------------------------------------------------ reading back
    def report(self, account: LocalAccount, outputs: dict[str, str]) -> int:
        from reaper.service import INVALID_TOKEN_KEY  # noqa: PLC0415
        from reaper.settings import Settings  # noqa: PLC0415
        from reaper.wiring import build_audit_table, build_clients  # noqa: PLC0415

        audit = build_audit_table(Settings.from_env(), build_clients())
        sqs = account.client("sqs")
        back = ReadBack(
            decisions={p.name: audit.by_token(p.token) for p in self.planned},
            invalid=audit.by_token(INVALID_TOKEN_KEY),
            forgotten=audit.by_token(FORGOTTEN_TOKEN),
            letters=peek(sqs, outputs[contracts.OUTPUT_DEAD_LETTER_QUEUE_URL]),
            delayed=int(
                sqs.get_queue_attributes(
                    QueueUrl=outputs[contracts.OUTPUT_WORK_QUEUE_URL],
                    AttributeNames=["ApproximateNumberOfMessagesDelayed"],
                )["Attributes"]["ApproximateNumberOfMessagesDelayed"]
            ),
            snapshot=account.emulator.backend.snapshot(),
            told=self.tap.drain() if self.tap else [],
            unblocking=self.unblocking,
        )
        self.render_decisions(back)
        self.render_dead_letters(back.letters)
        self.render_features(back, account.client("cloudcontrol"))
        operated = self.operate(account, audit.by_token)
        checks = self.checks(back) + demo_operator.checks(operated)
        self.render_checks(checks)
        failed = [c for c in checks if not c.ok]
        timing = ", ".join(f"{k} {v:.1f} s" for k, v in self.timings.marks.items())
        if failed:
            self.console.print(
                f"[bold red]DEMO FAILED:[/] {len(failed)} of {len(checks)} checks do not hold "
                f"(first: {failed[0].what}: expected {failed[0].expected}, "
                f"got {failed[0].actual})"
            )
        else:
            names = {p.token: p.name for p in self.planned}
            cancelled = sorted(names[t] for t in back.snapshot.cancelled if t in names)
            self.console.print(
                f"[bold green]All {len(checks)} checks hold:[/] the report matches the audit "
                f"table, the queues and Cloud Control's state ({len(cancelled)} cancelled: "
                f"{', '.join(cancelled)})."
            )
        self.console.print(f"Took {self.timings.total:.1f} s ({timing}).")
        return 1 if failed else 0

    def operate(self, account: LocalAccount, by_token: Any) -> Operated:
        """The operator's plan, approval and apply, and the HTML report, with the CLI."""
        since = time.monotonic()
        self.step(
            "6. An operator with cc-reaper: plan (read-only), the approval (apply "
            f"--approved-by {demo_operator.OPERATOR}), the HTML report (the CLI in a "
            "subprocess, pointed here by AWS_ENDPOINT_URL_<SERVICE>)"
        )
        env = cli_env(
            account.moto_endpoint,
            account.emulator.endpoint_url,
            account.region,
            set(self.function_env),
            self.console.width - 2,
        )
        operator = Operator(self.console, env, self.stack_name, account.workdir, self.report_path)
        operated = operator.run(
            account.emulator.backend,
            account.client("cloudcontrol"),
            self.function_env[contracts.ENV_REAPER_CONFIG],
        )
        operator.read_back(by_token, account.emulator.backend.snapshot())
        self.timings.mark("operator (CLI)", since)
        return operated

    def render_decisions(self, back: ReadBack) -> None:
        cancelled = Table(title="Cancelled (read back from the audit table)", title_justify="left")
        left = Table(title="Left alone, and why (audit table)", title_justify="left")
        for table in (cancelled, left):
            for column in ("request", "type", "op", "by", "outcome"):
                table.add_column(column, no_wrap=True)
            table.add_column("why", overflow="fold")
        rows = [(p.name, d) for p in self.planned for d in back.decisions[p.name]]
        rows += [("(forgotten token)", d) for d in back.forgotten]
        for name, d in sorted(rows, key=lambda row: row[1].decided_at):
            row = (
                name,
                d.type_name or "-",
                d.operation or "-",
                d.source.value,
                d.outcome.value,
                why(d),
            )
            if d.outcome in (Outcome.CANCELLED, Outcome.CANCEL_COMPLETE):
                cancelled.add_row(*row, style="green")
            else:
                left.add_row(*row)
        self.console.print(cancelled)
        self.console.print(left)
        self.console.print(
            f"  The sweep also listed healthy requests it did not store: "
            f"{self.sweep_result.get('listed', '?')} listed, "
            f"{self.sweep_result.get('decided', '?')} stale ones decided and audited."
        )

    def render_dead_letters(self, letters: list[dict[str, Any]]) -> None:
        table = Table(title="Dead-letter queue (read back, left in place)", title_justify="left")
        for column in ("error", "tokens", "source", "original body"):
            table.add_column(column, overflow="fold")
        for letter in letters:
            table.add_row(
                f"{letter['error']['code']}: {letter['error']['message']}",
                str(len(letter["requestTokens"])),
                letter["source"],
                letter["original"][:120],
            )
        self.console.print(table)

    def render_features(self, back: ReadBack, cloudcontrol: Any) -> None:
        """The blocked deployment's story, the leftovers, the reaper's events."""
        blocker = by_name(self.planned)["role-update"]
        decision = next(iter(back.decisions["role-update"]), None)
        self.console.print("[bold]The blocked deployment, as it happened[/]")
        for n, line in enumerate(story(blocker, decision, back.unblocking), 1):
            self.console.print(f"  {n}. {line}")
        decisions = [d for ds in back.decisions.values() for d in ds]
        table, summary = leftovers_table(decisions, cloudcontrol)
        self.console.print(table)
        self.console.print(summary)
        names = {p.token: p.name for p in self.planned}
        self.console.print(events_table(back.told, names))

    def render_checks(self, checks: list[Check]) -> None:
        table = Table(title="Checks: expected vs what the account says", title_justify="left")
        for column in ("", "check", "expected", "actual"):
            table.add_column(column, overflow="fold")
        for check in checks:
            mark = "[green]✓[/]" if check.ok else "[red]✗[/]"
            table.add_row(mark, check.what, check.expected, check.actual)
        self.console.print(table)

    def checks(self, back: ReadBack) -> list[Check]:
        return demo_checks.checks(self.planned, back, self.sweep_result)


def peek(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message body in the queue, parsed, left in place (visibility 0)."""
    found: dict[str, dict[str, Any]] = {}
    for _ in range(3):
        for message in sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=0
        ).get("Messages", []):
            found[message["MessageId"]] = json.loads(message["Body"])
    return list(found.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reaper_local.demo", description=__doc__.split("\n\n")[0] if __doc__ else ""
    )
    parser.add_argument(
        "--log-level",
        default="ERROR",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="the reaper's Powertools log level (its JSON logs go to stdout)",
    )
    parser.add_argument(
        "--report",
        type=Path,
        default=DEFAULT_REPORT,
        metavar="FILE.html",
        help=f"where the operator's cc-reaper report goes (default {DEFAULT_REPORT})",
    )
    args = parser.parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else CONSOLE_MIN_WIDTH)
    console.print("[bold]Cloud Control Request Reaper: local demo[/] (no network, no Docker)")
    try:
        return Demo(console, args.log_level, args.report).run()
    except Exception as exc:  # the edge: one line, not a traceback
        console.print(f"[bold red]DEMO FAILED:[/] {type(exc).__name__}: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
