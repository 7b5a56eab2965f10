"""The demo's last step: an operator at a laptop with ``cc-reaper``, a person between "stale"
and "cancelled". A few more requests are left stuck (and one young one started); ``cc-reaper
plan`` lists what a sweep would cancel (read-only), ``cc-reaper apply --approved-by`` is the
approval and cancels those still stale (one of them its owner cancels in between), and
``cc-reaper report`` writes the HTML report.

The CLI runs as a user runs it: a subprocess (``python -m reaper_cli.main``; nothing here
imports it), pointed at the demo's servers by boto3's own configuration only
(``AWS_ENDPOINT_URL_<SERVICE>``, ``AWS_DEFAULT_REGION``, test keys) and ``--stack-name``; the
function's environment the demo set for the handler is not passed on.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reaper.models import Decision, Outcome, Source
from rich.console import Console

from reaper_local.demo_checks import NOTHING, Check, pairs
from reaper_local.demo_scenario import HOUR

OPERATOR = "ops-lead"
CLI = (sys.executable, "-m", "reaper_cli.main")
# boto3's service ids (AWS_ENDPOINT_URL_<id>) of what the CLI calls on moto's server.
MOTO_SERVICES = ("CLOUDFORMATION", "DYNAMODB", "SQS", "STS", "EVENTBRIDGE", "SNS")
CANCELS = (Outcome.CANCELLED, Outcome.CANCEL_COMPLETE)
PNG = "data:image/png;base64,"
CHARTS = 5
EXTERNAL = re.compile(r"https?://", re.IGNORECASE)
# Only a guard against a hung command, far beyond a normal run.
CLI_TIMEOUT_SECONDS = 300
OWNER_CANCEL_WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class Seed:
    """One more request left stuck (or started) before the operator's plan."""

    name: str
    type_name: str
    operation: str
    status: str
    age_seconds: float
    stale: bool  # the plan must list it
    ends_before_apply: bool = False  # its owner cancels it between the plan and the apply

    @property
    def final_status(self) -> str:
        return "CANCEL_COMPLETE" if self.stale else self.status


SEEDS = (
    Seed("op-logs", "AWS::Logs::LogGroup", "CREATE", "IN_PROGRESS", 7 * HOUR, stale=True),
    Seed("op-function", "AWS::Lambda::Function", "DELETE", "PENDING", 8 * HOUR, stale=True),
    Seed(
        "op-bucket",
        "AWS::S3::Bucket",
        "CREATE",
        "IN_PROGRESS",
        9 * HOUR,
        stale=True,
        ends_before_apply=True,
    ),
    Seed("op-young", "AWS::Logs::LogGroup", "CREATE", "IN_PROGRESS", 30 * 60, stale=False),
)


@dataclass
class Operated:
    """What the operator's commands did, read back from the files, the audit and Cloud Control."""

    tokens: dict[str, str] = field(default_factory=dict)  # seed name → token
    codes: dict[str, int] = field(default_factory=dict)  # command → exit status
    plan: dict[str, Any] = field(default_factory=dict)  # the plan file, parsed
    decisions: dict[str, list[Decision]] = field(default_factory=dict)  # by seed name
    statuses: dict[str, str] = field(default_factory=dict)  # by seed name, after the apply
    report: Path | None = None
    html: str = ""

    @property
    def delivery_id(self) -> str:
        return f"plan-{self.plan.get('id', '?')}"

    def name(self, token: str) -> str:
        names = {t: n for n, t in self.tokens.items()}
        return names.get(token, token[:8])


def cli_env(
    moto_endpoint: str, cloudcontrol_endpoint: str, region: str, drop: set[str], width: int
) -> dict[str, str]:
    """The shell a user would have: this one without AWS_* and the function's variables, and
    boto3's standard configuration naming each service's endpoint."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in drop}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": region,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ENDPOINT_URL_CLOUDCONTROL": cloudcontrol_endpoint,
            **{f"AWS_ENDPOINT_URL_{service}": moto_endpoint for service in MOTO_SERVICES},
            "COLUMNS": str(width),
        }
    )
    return env


class Operator:
    """Runs the three commands and reads back what they did."""

    def __init__(
        self,
        console: Console,
        env: Mapping[str, str],
        stack_name: str,
        workdir: Path,
        report_path: Path,
    ) -> None:
        self.console = console
        self.env = dict(env)
        self.stack_name = stack_name
        self.workdir = workdir
        self.report_path = report_path.resolve()
        self.result = Operated()

    def seed(self, backend: Any) -> None:
        for seed in SEEDS:
            (token,) = backend.seed(
                1,
                type_name=seed.type_name,
                operation=seed.operation,
                status=seed.status,
                age_seconds=seed.age_seconds,
                identifier_prefix=f"demo-{seed.name}-",
            )
            self.result.tokens[seed.name] = token
        self.console.print(
            "  left in Cloud Control: "
            + "; ".join(
                f"{s.name} {self.result.tokens[s.name][:8]} ({s.type_name} {s.operation} "
                f"{s.status}, {s.age_seconds / HOUR:g} h)"
                for s in SEEDS
            )
        )

    def run(self, backend: Any, cloudcontrol: Any, config_json: str) -> Operated:
        """Seed, plan, the owner's cancel, apply, report (``backend``: the emulator's)."""
        self.seed(backend)
        config = self.workdir / "reaper-config.json"
        config.write_text(config_json, encoding="utf-8")
        plan_file = self.workdir / "plan.json"
        self.console.print(
            f"  config: the deployed function's REAPER_CONFIG, saved to {config} (docs/cli.md, "
            "Policy flags)"
        )
        self.cli("plan", "plan", "--config", str(config), "--out", str(plan_file))
        try:
            self.result.plan = json.loads(plan_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.result.plan = {}
        for seed in SEEDS:
            if seed.ends_before_apply:
                self.owner_cancels(cloudcontrol, seed)
        if self.result.plan:
            self.cli(
                "apply",
                "apply",
                str(plan_file),
                "--approved-by",
                OPERATOR,
                "--no-dry-run",
                "--yes",
            )
        self.report_path.parent.mkdir(parents=True, exist_ok=True)
        self.cli(
            "report",
            "report",
            "--since",
            "1d",
            "--config",
            str(config),
            "--out",
            str(self.report_path),
        )
        self.result.report = self.report_path
        try:
            self.result.html = self.report_path.read_text(encoding="utf-8")
        except OSError:
            self.result.html = ""
        self.console.print(f"Report: {self.report_path}", highlight=False, soft_wrap=True)
        return self.result

    def owner_cancels(self, cloudcontrol: Any, seed: Seed) -> None:
        token = self.result.tokens[seed.name]
        cloudcontrol.cancel_resource_request(RequestToken=token)
        status = ""
        deadline = time.monotonic() + OWNER_CANCEL_WAIT_SECONDS
        while time.monotonic() < deadline:
            status = cloudcontrol.get_resource_request_status(RequestToken=token)["ProgressEvent"][
                "OperationStatus"
            ]
            if status == "CANCEL_COMPLETE":
                break
            time.sleep(0.2)
        self.console.print(
            f"  meanwhile {seed.name}'s owner cancels it (CancelResourceRequest → {status}): "
            "no longer stale when the plan is applied"
        )

    def cli(self, key: str, *args: str) -> int:
        shown = " ".join(a if " " not in a else repr(a) for a in args)
        self.console.print(f"  [bold]$ cc-reaper --stack-name {self.stack_name} {shown}[/]")
        try:
            done = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
                [*CLI, "--stack-name", self.stack_name, *args],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=CLI_TIMEOUT_SECONDS,
                check=False,
            )
            code, out, err = done.returncode, done.stdout, done.stderr
        except subprocess.TimeoutExpired:
            code, out, err = -1, "", f"cc-reaper {key}: no answer in {CLI_TIMEOUT_SECONDS} s"
        for line in out.rstrip("\n").splitlines():
            self.console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
        if code != 0:
            for line in err.rstrip("\n").splitlines()[-10:]:
                self.console.print(f"  [red]stderr:[/] {line}", highlight=False)
        self.result.codes[key] = code
        return code

    def read_back(self, by_token: Callable[[str], list[Decision]], snapshot: Any) -> None:
        """The audit's decisions and Cloud Control's status of each seeded request."""
        for name, token in self.result.tokens.items():
            self.result.decisions[name] = by_token(token)
            request = snapshot.requests.get(token)
            self.result.statuses[name] = request.status if request else "gone"


def checks(done: Operated) -> list[Check]:
    """The plan lists exactly the stale requests; the apply cancels exactly those still stale,
    audited under ``plan-<id>`` with the approver; the report is whole and self-contained."""
    found = [
        Check(
            "cc-reaper plan, apply, report: exit status",
            "plan 0, apply 0, report 0",
            ", ".join(f"{k} {done.codes.get(k, '(not run)')}" for k in ("plan", "apply", "report")),
        ),
        Check(
            "plan lists exactly the stale requests",
            ", ".join(sorted(s.name for s in SEEDS if s.stale)),
            ", ".join(sorted(done.name(row["token"]) for row in done.plan.get("tokens", [])))
            or NOTHING,
        ),
    ]
    planned = {done.name(row["token"]) for row in done.plan.get("tokens", [])}
    applied = {
        name: [d for d in ds if d.source is Source.CLI and d.delivery_id == done.delivery_id]
        for name, ds in done.decisions.items()
    }
    found.append(
        Check(
            "apply cancelled exactly the planned requests still stale (audit, plan-<id>)",
            ", ".join(sorted(s.name for s in SEEDS if s.stale and not s.ends_before_apply)),
            ", ".join(
                sorted(n for n, ds in applied.items() if any(d.outcome in CANCELS for d in ds))
            )
            or NOTHING,
        )
    )
    for seed in SEEDS:
        if seed.ends_before_apply:
            found.append(
                Check(
                    f"apply skipped {seed.name} (ended before the approval)",
                    "cli:terminal",
                    pairs(applied.get(seed.name, [])),
                )
            )
    reason = f"plan {done.plan.get('id', '?')} approved by {OPERATOR}"
    audited = [d for ds in applied.values() for d in ds]
    reasons = " | ".join(sorted({d.reason or "(no reason)" for d in audited})) or NOTHING
    found.append(
        Check(
            "apply's decisions: delivery id plan-<id>, reason names the approver",
            f"{len(planned)} decision(s), reason: {reason}",
            f"{len(audited)} decision(s), reason: {reasons}",
        )
    )
    for seed in SEEDS:
        if not seed.stale:
            found.append(
                Check(
                    f"audit of {seed.name} (not planned)",
                    NOTHING,
                    pairs(done.decisions.get(seed.name, [])),
                )
            )
    found.append(
        Check(
            "Cloud Control status of the operator's requests",
            ", ".join(f"{s.name} {s.final_status}" for s in SEEDS),
            ", ".join(f"{s.name} {done.statuses.get(s.name, '?')}" for s in SEEDS),
        )
    )
    found += report_checks(done)
    return found


def report_checks(done: Operated) -> list[Check]:
    html = done.html
    return [
        Check(
            "report written (one whole HTML document)",
            "yes",
            "yes" if html.lower().startswith("<!doctype html>") and "</html>" in html else "no",
        ),
        Check("report self-contained: http(s) references", "0", str(len(EXTERNAL.findall(html)))),
        Check("report's embedded PNG charts", str(CHARTS), str(html.count(PNG))),
    ]
