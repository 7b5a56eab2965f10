"""Given what the operator's commands did (the plan file, the audit, Cloud Control's state, the
report), when one fact differs from what the demo expects, then its checks name it: the plan,
the approval's apply and the report can each fail the demo."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from reaper.models import Decision, Outcome, Source
from reaper_local.demo_operator import (
    CHARTS,
    MOTO_SERVICES,
    OPERATOR,
    PNG,
    SEEDS,
    Operated,
    checks,
    cli_env,
)

PLAN_ID = "9e9aa51b-e21c-498e-8287-fa7cc499c47f"


def decision(token: str, source: Source, delivery: str, outcome: Outcome, reason: str) -> Decision:
    return Decision(
        token, source, delivery, outcome, datetime.now(UTC), "r-1", False, reason=reason
    )


def as_the_demo_expects() -> Operated:
    done = Operated(tokens={s.name: f"token-{s.name}" for s in SEEDS})
    done.codes = {"plan": 0, "apply": 0, "report": 0}
    done.plan = {
        "id": PLAN_ID,
        "tokens": [{"token": done.tokens[s.name]} for s in SEEDS if s.stale],
    }
    reason = f"plan {PLAN_ID} approved by {OPERATOR}"
    for s in SEEDS:
        outcome = Outcome.TERMINAL if s.ends_before_apply else Outcome.CANCEL_COMPLETE
        done.decisions[s.name] = (
            [decision(done.tokens[s.name], Source.CLI, f"plan-{PLAN_ID}", outcome, reason)]
            if s.stale
            else []
        )
        done.statuses[s.name] = s.final_status
    done.report = Path("demo-report.html")
    images = "".join(f'<img src="{PNG}iVBORw0KGgo=">' for _ in range(CHARTS))
    done.html = f"<!doctype html><html><body>{images}</body></html>\n"
    return done


def failed(done: Operated) -> list[str]:
    return [c.what for c in checks(done) if not c.ok]


def test_every_check_holds_when_the_commands_did_what_the_demo_expects():
    assert failed(as_the_demo_expects()) == []


def test_a_plan_that_misses_a_stale_request_fails_its_check():
    done = as_the_demo_expects()
    done.plan["tokens"].pop()

    assert failed(done)[0] == "plan lists exactly the stale requests"


def test_a_young_request_cancelled_by_the_apply_fails_two_checks():
    done = as_the_demo_expects()
    young = next(s for s in SEEDS if not s.stale)
    reason = f"plan {PLAN_ID} approved by {OPERATOR}"
    done.decisions[young.name] = [
        decision(
            done.tokens[young.name], Source.CLI, f"plan-{PLAN_ID}", Outcome.CANCEL_COMPLETE, reason
        )
    ]
    done.statuses[young.name] = "CANCEL_COMPLETE"

    assert failed(done) == [
        "apply cancelled exactly the planned requests still stale (audit, plan-<id>)",
        "apply's decisions: delivery id plan-<id>, reason names the approver",
        f"audit of {young.name} (not planned)",
        "Cloud Control status of the operator's requests",
    ]


def test_decisions_under_another_delivery_or_without_the_approver_fail():
    done = as_the_demo_expects()
    name = next(s.name for s in SEEDS if s.stale and not s.ends_before_apply)
    done.decisions[name] = [
        d.but(reason=f"plan {PLAN_ID} approved by nobody") for d in done.decisions[name]
    ]

    assert failed(done) == ["apply's decisions: delivery id plan-<id>, reason names the approver"]

    done.decisions[name] = [d.but(delivery_id="cli-1") for d in done.decisions[name]]

    assert "apply cancelled exactly the planned requests still stale (audit, plan-<id>)" in failed(
        done
    )


def test_a_failed_command_fails_its_check():
    done = as_the_demo_expects()
    done.codes["apply"] = 1

    assert failed(done) == ["cc-reaper plan, apply, report: exit status"]


def test_a_report_with_an_external_reference_or_a_missing_chart_fails():
    done = as_the_demo_expects()
    done.html = done.html.replace("<body>", '<body><link href="https://cdn.example/x.css">', 1)
    done.html = done.html.replace(PNG, "data:image/svg+xml;base64,", 1)

    assert failed(done) == [
        "report self-contained: http(s) references",
        "report's embedded PNG charts",
    ]


def test_no_report_fails_every_report_check():
    done = as_the_demo_expects()
    done.html = ""

    assert failed(done) == [
        "report written (one whole HTML document)",
        "report's embedded PNG charts",
    ]


def test_the_cli_gets_boto3s_configuration_and_not_the_functions_environment(monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "production")
    monkeypatch.setenv("AUDIT_TABLE_NAME", "from-the-function")
    env = cli_env(
        "http://127.0.0.1:1", "http://127.0.0.1:2", "us-east-1", {"AUDIT_TABLE_NAME"}, 120
    )

    assert "AWS_PROFILE" not in env and "AUDIT_TABLE_NAME" not in env
    assert env["AWS_ENDPOINT_URL_CLOUDCONTROL"] == "http://127.0.0.1:2"
    assert {env[f"AWS_ENDPOINT_URL_{s}"] for s in MOTO_SERVICES} == {"http://127.0.0.1:1"}
    assert "AWS_ENDPOINT_URL" not in env  # every service the CLI calls is named
    assert env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_CONFIG_FILE"] == env["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull
    assert env["COLUMNS"] == "120"
