"""Given an organization played on moto and the AWS machinery between the central account
and the members played by ``reaper_local.org_play``'s relay, when the operator engages or
releases the org kill switch, then every member sets its own switch and confirms, and the
CLI's read-back table says which account-Region confirmed; when members' events reach the
central table, ``cc-reaper audit --org`` shows them with their account and Region."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from ccapi_emulator import EmulatorConfig
from reaper import contracts
from reaper.adapters.audit_table import AuditTable
from reaper_local.localstack import LocalAccount
from reaper_local.org_play import MemberTarget, PlayedOrganization, play_organization, reset_moto
from reaper_local.org_shapes import FakeContext as FakeLambdaContext

from tests.org_support import run_cli as run

# They reset moto's per-process state: one worker runs every such module, one at a time.
pytestmark = pytest.mark.xdist_group("moto-organization")
REGIONS = ("eu-west-1", "us-east-1")


@pytest.fixture(scope="module")
def played() -> Iterator[tuple[LocalAccount, PlayedOrganization]]:
    with LocalAccount(EmulatorConfig(rate_per_second=None)) as local:
        reset_moto(local.moto_endpoint)  # moto's state is per process: start clean, end clean
        try:
            yield local, play_organization(local.moto_endpoint, members=3, regions=REGIONS)
        finally:
            reset_moto(local.moto_endpoint)


@pytest.fixture
def org(played, monkeypatch: pytest.MonkeyPatch) -> Iterator[PlayedOrganization]:
    local, org = played
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("COLUMNS", raising=False)
    for name, value in {**local.endpoint_env(), "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", org.central_region)
    monkeypatch.setattr("reaper.wiring.MAX_ATTEMPTS", 2)
    monkeypatch.setattr("reaper_cli.org_view.POLL_SECONDS", 0.2)
    yield org
    org.offline.clear()


def member_switch(org: PlayedOrganization, target: MemberTarget) -> Any:
    session = org.session(target.account, target.region)
    client = session.client("dynamodb", endpoint_url=org.endpoint)
    return AuditTable(client, contracts.ORG_MEMBER_AUDIT_TABLE).kill_switch()


def test_the_org_kill_switch_is_confirmed_by_all_six_and_released_again(org, capsys):
    regions = ",".join(REGIONS)
    with org.relay():
        on = run(
            capsys, "--json", "kill-switch", "on", "--org", "--regions", regions,
            "--reason", "incident 9", "--by", "ops", "--wait", "30",
        )  # fmt: skip
        engaged = {t: member_switch(org, t) for t in org.targets}
        off = run(capsys, "kill-switch", "off", "--org", "--regions", regions, "--wait", "30")

    assert on[0] == 0, on[2]
    document = json.loads(on[1])
    assert document["summary"] == {"expected": 6, "missing": 0}
    assert {(r["account"], r["region"]) for r in document["targets"]} == {
        (t.account, t.region) for t in org.targets
    }
    assert all(r["confirmed"] and r["engaged"] is True for r in document["targets"])
    assert all(
        s.engaged and s.reason == "incident 9" and s.set_by == "ops" for s in engaged.values()
    )
    assert off[0] == 0, off[2]
    assert "6 of 6 confirmed." in off[1]
    assert not any(member_switch(org, t).engaged for t in org.targets)


def test_a_member_that_never_confirms_is_named_and_fails_the_command(org, capsys):
    offline = MemberTarget(org.members[1], REGIONS[1])
    org.offline.add(offline)
    with org.relay():
        code, out, err = run(
            capsys, "kill-switch", "on", "--org", "--regions", ",".join(REGIONS),
            "--reason", "drill", "--wait", "8",
        )  # fmt: skip

    assert code == 1, err
    assert "5 of 6 confirmed." in out
    (row,) = [
        line for line in out.splitlines() if offline.account in line and offline.region in line
    ]
    assert " no " in f" {row} "
    assert not member_switch(org, offline).engaged
    with org.relay():
        run(capsys, "kill-switch", "off", "--org", "--regions", ",".join(REGIONS), "--wait", "3")


def test_the_member_function_itself_applies_the_command_it_gets_from_sns(org, capsys, monkeypatch):
    """The relay hands each SNS delivery to ``reaper.handler.lambda_handler`` in the member's
    own environment: the function's routing, settings and wiring, not a test double."""
    from reaper import handler  # noqa: PLC0415

    code, out, _ = run(
        capsys, "--json", "kill-switch", "on", "--org", "--regions", ",".join(REGIONS),
        "--reason", "via the handler", "--wait", "0",
    )  # fmt: skip
    command_id = json.loads(out)["commandId"]
    invoked: list[dict[str, Any]] = []

    def through_the_handler(event: dict[str, Any], target: MemberTarget) -> None:
        with monkeypatch.context() as env:
            for name, value in org.member_env(target).items():
                env.setenv(name, value)
            handler.member_control.cache_clear()
            invoked.append(handler.lambda_handler(event, FakeLambdaContext()))
        handler.member_control.cache_clear()

    org.settle(through_the_handler)

    assert code == 1  # --wait 0: nobody had confirmed yet
    assert invoked == [{"applied": 1, "dropped": 0}] * 6
    confirmed = org.central_table().confirmations(command_id)
    assert sorted((c.account, c.region) for c in confirmed) == [
        (t.account, t.region) for t in org.targets
    ]
    assert all(member_switch(org, t).reason == "via the handler" for t in org.targets)
    with org.relay():
        run(capsys, "kill-switch", "off", "--org", "--regions", ",".join(REGIONS), "--wait", "30")


def test_a_command_the_central_bus_refuses_is_one_line(org, capsys, monkeypatch):
    def refused(self: Any, **_: Any) -> dict[str, Any]:
        return {
            "FailedEntryCount": 1,
            "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "x"}],
        }

    import botocore.client  # noqa: PLC0415

    real = botocore.client.BaseClient._make_api_call

    def api(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if operation == "PutEvents":
            return refused(self)
        return real(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", api)

    code, out, err = run(
        capsys, "kill-switch", "on", "--org", "--regions", REGIONS[0], "--reason", "x"
    )

    assert code == 1 and out == ""
    assert err.strip() == (
        f"cc-reaper: error: PutEvents on {contracts.ORG_BUS_NAME} refused the command: "
        "InternalFailure: x"
    )


def test_members_events_are_read_back_with_account_and_region(org, capsys):
    cancelled = {"requestToken": "tok-A", "outcome": "cancel_complete", "schemaVersion": "1"}
    for target in (
        MemberTarget(org.members[0], REGIONS[0]),
        MemberTarget(org.members[2], REGIONS[1]),
    ):
        events = org.client("events", target.account, target.region)
        events.put_events(
            Entries=[
                {
                    "Source": contracts.REAPER_EVENT_SOURCE,
                    "DetailType": contracts.DETAIL_TYPE_CANCELLED,
                    "Detail": json.dumps({**cancelled, "requestToken": f"tok-{target.account}"}),
                }
            ]
        )
    org.settle()

    every = run(capsys, "--json", "audit", "--org", "--since", "1h")
    one = run(capsys, "--json", "audit", "--org", "--since", "1h", "--accounts", org.members[2])
    table = run(capsys, "audit", "--org", "--since", "1h", "--regions", REGIONS[0])

    assert every[0] == 0, every[2]
    rows = [json.loads(line) for line in every[1].splitlines()]
    stored = {
        (r["account"], r["region"], r["token"])
        for r in rows
        if r["detailType"] == contracts.DETAIL_TYPE_CANCELLED
    }
    assert stored == {
        (org.members[0], REGIONS[0], f"tok-{org.members[0]}"),
        (org.members[2], REGIONS[1], f"tok-{org.members[2]}"),
    }
    assert [r["time"] for r in rows] == sorted((r["time"] for r in rows), reverse=True)
    assert {json.loads(line)["account"] for line in one[1].splitlines()} == {org.members[2]}
    assert f"tok-{org.members[0]}" in table[1] and f"tok-{org.members[2]}" not in table[1]


def test_audit_filters_need_org(org, capsys):
    code, _, err = run(capsys, "audit", "--accounts", "123456789012")

    assert code == 2
    assert "add --org" in err
