"""Given an organization played on moto (three member accounts in two Regions, each with a
member's resources by their fixed names), when the operator runs a command with
``--org``/``--accounts`` and ``--regions``, then every account-Region is worked on through
STS AssumeRole, a target that fails is reported on its row without stopping the others,
and the summary (or --json's one document) says what each target found."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from ccapi_emulator import EmulatorConfig
from reaper import contracts
from reaper.adapters.audit_table import AuditTable
from reaper_local.localstack import LocalAccount
from reaper_local.org_play import (
    ROLE_NAME,
    MemberTarget,
    PlayedOrganization,
    play_organization,
    reset_moto,
)

from tests.org_support import ProgressSpy
from tests.org_support import run_cli as run

HOURS = 3600
# They reset moto's per-process state: one worker runs every such module, one at a time.
pytestmark = pytest.mark.xdist_group("moto-organization")
REGIONS = ("eu-west-1", "us-east-1")


@dataclass
class Played:
    local: LocalAccount
    org: PlayedOrganization


@pytest.fixture(scope="module")
def played() -> Iterator[Played]:
    """Its own moto server and emulator: an organization is made once per server."""
    config = EmulatorConfig(
        manual_clock=True, rate_per_second=None, cancel_complete_after_seconds=0
    )
    with LocalAccount(config) as local:
        reset_moto(local.moto_endpoint)  # moto's state is per process: start clean, end clean
        try:
            yield Played(local, play_organization(local.moto_endpoint, members=3, regions=REGIONS))
        finally:
            reset_moto(local.moto_endpoint)


@pytest.fixture
def org(played: Played, monkeypatch: pytest.MonkeyPatch) -> Iterator[PlayedOrganization]:
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("COLUMNS", raising=False)
    for name, value in {**played.local.endpoint_env(), "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", played.org.central_region)
    monkeypatch.setattr("reaper.wiring.MAX_ATTEMPTS", 2)
    backend = played.local.emulator.backend
    backend.reset()
    yield played.org
    backend.reset()
    played.org.offline.clear()


@pytest.fixture
def emulator(played: Played) -> Any:
    return played.local.emulator.backend


def targets_of(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(t["account"], t["region"]): t for t in document["targets"]}


def test_a_dry_run_sweep_covers_all_six_targets_and_one_failure_stops_no_other(
    org, emulator, capsys
):
    emulator.seed(2, age_seconds=7 * HOURS)
    emulator.seed(1, age_seconds=HOURS)
    broken = MemberTarget(org.members[2], REGIONS[1])
    org.remove_member_table(broken)
    try:
        code, out, err = run(
            capsys, "--json", "sweep", "--org", "--regions", ",".join(REGIONS),
            "--role-name", ROLE_NAME, "--max-parallel", "3",
        )  # fmt: skip
    finally:
        org.restore_member_table(broken)

    assert code == 1, err
    (document,) = [json.loads(line) for line in out.splitlines()]
    found = targets_of(document)
    assert set(found) == {(t.account, t.region) for t in org.targets}  # management left out
    assert document["summary"] == {"targets": 6, "ok": 5, "failed": 1}
    failed = found[(broken.account, broken.region)]
    assert failed["result"] == "failed"
    assert failed["error"].startswith("ResourceNotFoundException: no table cc-reaper-audit")
    for key, target in found.items():
        if key != (broken.account, broken.region):
            assert target["result"] == "ok" and target["error"] is None
            assert target["counts"] == {"listed": 3, "stale": 2, "not stale": 1, "left alone": 0}
            assert target["killSwitch"] is False and len(target["staleTokens"]) == 2
    # Read-only: nothing was recorded in any member, nothing cancelled.
    assert emulator.snapshot().cancelled == []
    table = org.client("dynamodb", org.members[0], REGIONS[0])
    assert table.scan(TableName=contracts.ORG_MEMBER_AUDIT_TABLE)["Items"] == []


def test_the_summary_table_names_every_account_and_region(org, emulator, capsys):
    accounts = ",".join(org.members[:2])

    code, out, err = run(
        capsys, "sweep", "--accounts", accounts, "--regions", ",".join(REGIONS),
        "--role-name", ROLE_NAME,
    )  # fmt: skip

    assert code == 0, err
    for account in org.members[:2]:
        for region in REGIONS:
            assert any(account in line and region in line for line in out.splitlines())
    assert org.members[2] not in out
    assert "4 target(s): 4 ok, 0 failed." in out
    assert err == ""  # no progress bar where stderr is not a terminal


def test_one_progress_bar_counts_every_target(org, emulator, capsys, monkeypatch):
    spy = ProgressSpy.install(monkeypatch)

    code, _, err = run(
        capsys, "sweep", "--org", "--regions", ",".join(REGIONS), "--role-name", ROLE_NAME
    )

    assert code == 0, err
    assert spy.tasks == [("Sweep (dry run, nothing recorded)", 6)]
    assert spy.advanced == [1] * 6


def test_a_real_sweep_in_one_target_cancels_there_and_records_in_its_table(org, emulator, capsys):
    stale = emulator.seed(1, age_seconds=7 * HOURS)
    target = MemberTarget(org.members[0], REGIONS[0])

    code, out, err = run(
        capsys, "--json", "sweep", "--accounts", target.account, "--regions", target.region,
        "--role-name", ROLE_NAME, "--no-dry-run", "--yes",
    )  # fmt: skip

    assert code == 0, err
    (row,) = json.loads(out)["targets"]
    assert row["counts"]["listed"] == 1 and row["counts"]["cancel_complete"] == 1
    assert emulator.snapshot().cancelled == stale
    session = org.session(target.account, target.region)
    audit = AuditTable(
        session.client("dynamodb", endpoint_url=org.endpoint), contracts.ORG_MEMBER_AUDIT_TABLE
    )
    assert [d.outcome.value for d in audit.by_token(stale[0])] == ["cancel_complete"]


def test_status_of_tokens_in_every_target(org, emulator, capsys):
    (token,) = emulator.seed(1, age_seconds=7 * HOURS)

    code, out, err = run(
        capsys, "--json", "status", token, "--accounts", org.members[1],
        "--regions", ",".join(REGIONS), "--role-name", ROLE_NAME,
    )  # fmt: skip

    assert code == 0, err
    document = json.loads(out)
    assert [t["counts"] for t in document["targets"]] == [{"found": 1, "stale": 1}] * 2
    assert document["targets"][0]["tokens"][0]["verdict"] == "stale"


def test_members_switches_are_set_and_read_directly_with_accounts(org, emulator, capsys):
    accounts = ",".join(org.members[:2])
    common = ("--accounts", accounts, "--regions", REGIONS[0], "--role-name", ROLE_NAME)

    on = run(capsys, "--json", "kill-switch", "on", *common, "--reason", "drill", "--by", "ops")
    status = run(capsys, "--json", "kill-switch", "status", *common)
    off = run(capsys, "--json", "kill-switch", "off", *common)

    assert on[0] == 0, on[2]
    assert [t["engaged"] for t in json.loads(on[1])["targets"]] == [True, True]
    assert {t["setBy"] for t in json.loads(status[1])["targets"]} == {"ops"}
    assert [t["engaged"] for t in json.loads(off[1])["targets"]] == [False, False]


def test_a_role_that_cannot_be_assumed_fails_every_target_of_its_account(
    org, emulator, capsys, monkeypatch
):
    from botocore.exceptions import ClientError  # noqa: PLC0415
    from reaper_cli import targets  # noqa: PLC0415

    real = targets.TargetSessions.session

    def refuse(self: Any, target: Any) -> Any:
        if target.account == org.members[0]:
            raise targets.CliError(f"cannot assume {self.role_arn(target)}: AccessDenied")
        return real(self, target)

    monkeypatch.setattr(targets.TargetSessions, "session", refuse)
    del ClientError

    code, out, _ = run(
        capsys, "--json", "sweep", "--accounts", ",".join(org.members[:2]),
        "--regions", REGIONS[0], "--role-name", ROLE_NAME,
    )  # fmt: skip

    assert code == 1
    rows = targets_of(json.loads(out))
    denied = rows[(org.members[0], REGIONS[0])]
    assert denied["error"] == (
        f"cannot assume arn:aws:iam::{org.members[0]}:role/{ROLE_NAME}: AccessDenied"
    )
    assert rows[(org.members[1], REGIONS[0])]["result"] == "ok"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sweep", "--org", "--role-name", "r"], "--org needs --regions"),
        (["sweep", "--accounts", "123456789012", "--regions", "eu-west-1"], "need --role-name"),
        (
            ["sweep", "--accounts", "12345", "--regions", "eu-west-1"],
            "argument --accounts: 12-digit account ids",
        ),
        (["sweep", "--org", "--regions", "Europe"], "argument --regions: Region names"),
        (["sweep", "--org", "--accounts", "123456789012"], "not allowed with argument"),
        (["sweep", "--org", "--regions", "eu-west-1", "--max-parallel", "0"], "from 1 to 64"),
    ],
)
def test_bad_target_flags_are_one_line_and_usage_status(org, capsys, argv, message):
    code, out, err = run(capsys, *argv)

    assert code == 2 and out == ""
    (line,) = err.strip().splitlines()
    assert message in line
