"""Issue 13's "done when", played whole on moto: a central (management) account and three
member accounts in two Regions each.

- The management account's code buckets, published zip and management stack are created
  from the synthesized templates; the StackSet (moto's StackSets API, service-managed, to an
  OU) creates the six members from the member template, none of them CDK-bootstrapped.
- Each member account-Region has a Cloud Control of its own (one emulator each), with one
  stuck request; each member's function (``reaper.handler.lambda_handler``, in the
  environment its stack gave it) cancels it, and the cancel is seen in the central audit
  view (``cc-reaper audit --org``), with the member's account and Region.
- ``cc-reaper kill-switch on --org`` is confirmed by all six; a member then cancels nothing.
- ``cc-reaper sweep --org`` fans a dry run over all six with one progress bar.

What moto cannot run (Lambda, SNS -> Lambda, EventBridge keeping the sender's account on a
cross-account delivery) is played by ``reaper_local.org_play``'s relay.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from ccapi_emulator import EmulatorConfig, EmulatorServer
from reaper import contracts, handler
from reaper.adapters.audit_table import AuditTable
from reaper_local.localstack import LocalAccount
from reaper_local.org_deploy import (
    account_session,
    bootstrap_resources,
    create_stack_set_in_moto,
    deploy_management_to_moto,
)
from reaper_local.org_play import ROLE_NAME, MemberTarget, PlayedOrganization, reset_moto
from reaper_local.org_shapes import FakeContext

from infra import constants as c
from infra.org.code import build_bundle
from infra.org.code_stack import code_stack_name
from infra.org.management import OUTPUT_CENTRAL_BUS_ARN, OUTPUT_CONTROL_TOPIC_ARN
from infra.org.publish import publish
from infra.org.settings import OrganizationSettings
from tests.infrastructure.test_org_stacks import ORGANIZATION, synthesize_org
from tests.org_support import ProgressSpy, run_cli

REGIONS = tuple(ORGANIZATION["regions"])
MANAGEMENT_REGION = ORGANIZATION["managementRegion"]
HOURS = 3600
# It resets moto's per-process state: one worker runs every such module, one at a time.
pytestmark = [
    pytest.mark.xdist_group("moto-organization"),
    pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning"),
]


@dataclass
class World:
    local: LocalAccount  # moto's server, and the emulator the CLI's fan-out reads
    org: PlayedOrganization
    emulators: dict[MemberTarget, EmulatorServer]  # each member's own Cloud Control
    instances: list[dict[str, Any]]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    synth = synthesize_org(tmp_path_factory.mktemp("org-e2e.out"), {"dryRun": False})
    config = EmulatorConfig(rate_per_second=None, cancel_complete_after_seconds=0)
    with ExitStack() as stack:
        local = stack.enter_context(LocalAccount(config))
        endpoint = local.moto_endpoint
        reset_moto(endpoint)  # moto's state is per process: start clean, end clean
        stack.callback(reset_moto, endpoint)
        management = boto3.session.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name=MANAGEMENT_REGION,
        )
        ou_id, accounts = _organization(management, endpoint)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # moto warns per skipped resource
            central = _management_account(management, endpoint, synth.code_stacks, synth.outdir)
            template = json.loads(
                (synth.outdir / f"{c.ORG_MANAGEMENT_STACK_NAME}.template.json").read_text()
            )
            instances = create_stack_set_in_moto(
                endpoint,
                template,
                session=management,
                parameter_values={
                    "CentralBusArn": central[OUTPUT_CENTRAL_BUS_ARN],
                    "OrgControlTopicArn": central[OUTPUT_CONTROL_TOPIC_ARN],
                },
                ou_ids=[ou_id],
            )
        # The relay's central side is in the first Region: the management stack's.
        ordered = (MANAGEMENT_REGION, *(r for r in REGIONS if r != MANAGEMENT_REGION))
        org = PlayedOrganization(endpoint, accounts, ordered)
        org.wire(resources=False)  # the stacks made the resources; the relay's queues only
        for target in org.targets:
            _detach_schedule_targets(org.client("events", target.account, target.region))
        _detach_topic_targets(org.central("events"))
        emulators = {
            target: stack.enter_context(EmulatorServer(host="127.0.0.1", port=0, config=config))
            for target in org.targets
        }
        yield World(local, org, emulators, instances)


@pytest.fixture
def env(world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("COLUMNS", raising=False)
    for name, value in {**world.local.endpoint_env(), "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", MANAGEMENT_REGION)
    monkeypatch.setattr("reaper.wiring.MAX_ATTEMPTS", 2)
    monkeypatch.setattr("reaper_cli.org_view.POLL_SECONDS", 0.2)
    return world


def test_the_stack_set_made_a_member_in_every_account_and_region_without_bootstrap(env):
    world = env
    assert sorted((i["Account"], i["Region"]) for i in world.instances) == sorted(
        (t.account, t.region) for t in world.org.targets
    )
    for target in world.org.targets:
        member = account_session(world.local.moto_endpoint, target.account, target.region)
        assert bootstrap_resources(world.local.moto_endpoint, member) == []
        function = _function_environment(world, target)
        assert function[contracts.ENV_AUDIT_TABLE_NAME] == contracts.ORG_MEMBER_AUDIT_TABLE


def test_each_members_stuck_request_is_cancelled_and_seen_in_the_central_view(
    env, monkeypatch, capsys
):
    world = env
    stuck = {
        target: world.emulators[target].backend.seed(1, age_seconds=7 * HOURS)[0]
        for target in world.org.targets
    }

    # When each member's function runs its scheduled sweep, in its own environment
    for target in world.org.targets:
        result = _invoke_sweep(world, target, monkeypatch)
        assert result["listed"] == 1
        # no queue polling in a member: its sweep drained the (empty) work queue
        assert result["drained"]["received"] == 0
    world.org.settle()  # forwarding to the central bus, the collector, the central table

    # Then each member cancelled its own stuck request, and only that one, and recorded it
    for target, token in stuck.items():
        assert world.emulators[target].backend.snapshot().cancelled == [token], target
        outcomes = [d.outcome.value for d in _member_audit(world, target).by_token(token)]
        assert outcomes == ["cancel_complete"], (target, outcomes)
    # And the central view shows the six cancels, each with its account and Region
    code, out, err = run_cli(capsys, "--json", "audit", "--org", "--since", "24h")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]  # one JSON document a row
    cancelled = {
        (row["account"], row["region"]): row
        for row in rows
        if row.get("detailType") == contracts.DETAIL_TYPE_CANCELLED
    }
    assert set(cancelled) == {(t.account, t.region) for t in world.org.targets}
    for target, token in stuck.items():
        assert token in json.dumps(cancelled[(target.account, target.region)])


def test_the_org_kill_switch_is_confirmed_by_all_six_and_stops_every_cancel(
    env, monkeypatch, capsys
):
    world = env
    regions = ",".join(REGIONS)
    with world.org.relay():
        code, out, err = run_cli(
            capsys, "--json", "kill-switch", "on", "--org", "--regions", regions,
            "--reason", "e2e drill", "--by", "ops", "--wait", "60",
        )  # fmt: skip
    assert code == 0, err
    document = json.loads(out)
    assert document["summary"] == {"expected": 6, "missing": 0}
    assert all(row["confirmed"] and row["engaged"] is True for row in document["targets"])

    # A member that finds a stuck request now records it and cancels nothing
    target = world.org.targets[0]
    backend = world.emulators[target].backend
    before = list(backend.snapshot().cancelled)
    (token,) = backend.seed(1, age_seconds=7 * HOURS)
    _invoke_sweep(world, target, monkeypatch)
    assert backend.snapshot().cancelled == before
    assert _member_audit(world, target).kill_switch().engaged
    outcomes = [d.outcome.value for d in _member_audit(world, target).by_token(token)]
    assert outcomes == ["deferred_kill_switch"], outcomes

    with world.org.relay():
        code, out, err = run_cli(
            capsys, "kill-switch", "off", "--org", "--regions", regions, "--wait", "60"
        )
    assert code == 0, err
    assert "6 of 6 confirmed." in out


def test_the_cli_fans_a_dry_run_sweep_over_all_six_with_one_progress_bar(env, monkeypatch, capsys):
    world = env
    world.local.emulator.backend.seed(2, age_seconds=7 * HOURS)
    spy = ProgressSpy.install(monkeypatch)
    code, out, err = run_cli(
        capsys, "sweep", "--org", "--regions", ",".join(REGIONS), "--role-name", ROLE_NAME
    )

    assert code == 0, err
    assert "6 target(s): 6 ok, 0 failed." in out
    assert [total for _, total in spy.tasks] == [6]
    assert spy.advanced == [1] * 6
    assert world.local.emulator.backend.snapshot().cancelled == []  # a dry run


# ------------------------------------------------------------------ helpers


def _organization(management: Any, endpoint: str) -> tuple[str, list[str]]:
    """An organization with an OU of three new accounts (the StackSet's target)."""
    organizations = management.client("organizations", endpoint_url=endpoint)
    organizations.create_organization(FeatureSet="ALL")
    root = organizations.list_roots()["Roots"][0]["Id"]
    ou = organizations.create_organizational_unit(ParentId=root, Name="workloads")
    ou_id = ou["OrganizationalUnit"]["Id"]
    accounts = []
    for n in range(3):
        status = organizations.create_account(
            Email=f"member{n}@example.com", AccountName=f"member{n}"
        )["CreateAccountStatus"]
        organizations.move_account(
            AccountId=status["AccountId"], SourceParentId=root, DestinationParentId=ou_id
        )
        accounts.append(status["AccountId"])
    return ou_id, sorted(accounts)


def _detach_schedule_targets(events: Any) -> None:
    """moto hands every event on a bus to a schedule rule's targets too (AWS gives them
    the schedule only) and cannot invoke a Lambda target: the test invokes the schedule."""
    for rule in events.list_rules()["Rules"]:
        if rule.get("ScheduleExpression"):
            ids = [t["Id"] for t in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]]
            events.remove_targets(Rule=rule["Name"], Ids=ids)


def _detach_topic_targets(events: Any) -> None:
    """moto's EventBridge cannot deliver to an SNS target (it answers PutEvents with a 500):
    the relay plays the kill-switch rule -> control topic -> members path instead."""
    bus = contracts.ORG_BUS_NAME
    for rule in events.list_rules(EventBusName=bus)["Rules"]:
        targets = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus)["Targets"]
        ids = [t["Id"] for t in targets if t["Arn"].startswith("arn:aws:sns:")]
        if ids:
            events.remove_targets(Rule=rule["Name"], EventBusName=bus, Ids=ids)


def _management_account(
    management: Any, endpoint: str, code_stacks: dict[str, Any], outdir: Path
) -> dict[str, str]:
    """The code bucket stacks, the published zip and the management stack; its outputs."""
    for region in REGIONS:
        cloudformation = management.client(
            "cloudformation", endpoint_url=endpoint, region_name=region
        )
        cloudformation.create_stack(
            StackName=code_stack_name(region), TemplateBody=json.dumps(code_stacks[region])
        )
        cloudformation.get_waiter("stack_create_complete").wait(
            StackName=code_stack_name(region), WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
    publish(
        OrganizationSettings.model_validate(ORGANIZATION),
        build_bundle(),
        lambda region: management.client("s3", endpoint_url=endpoint, region_name=region),
    )
    central, _ = deploy_management_to_moto(
        endpoint, outdir, stack_name=c.ORG_MANAGEMENT_STACK_NAME, region=MANAGEMENT_REGION
    )
    return dict(central.outputs)


def _function_environment(world: World, target: MemberTarget) -> dict[str, str]:
    """The environment the member's stack gave its function (read from moto's Lambda)."""
    client = world.org.client("lambda", target.account, target.region)
    found = client.get_function_configuration(FunctionName=contracts.ORG_MEMBER_FUNCTION)
    variables: dict[str, str] = found["Environment"]["Variables"]
    return variables


def _invoke_sweep(
    world: World, target: MemberTarget, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """The member's function on its schedule: its stack's environment, its credentials,
    its own account-Region's Cloud Control."""
    event = {
        "version": "0",
        "id": f"schedule-{target.account}-{target.region}",
        "detail-type": contracts.SCHEDULE_DETAIL_TYPE,
        "source": contracts.SCHEDULE_EVENT_SOURCE,
        "account": target.account,
        "time": "2026-12-02T00:00:00Z",
        "region": target.region,
        "resources": [],
        "detail": {},
    }
    environment = {
        **_function_environment(world, target),
        **world.org.member_env(target),
        "AWS_ENDPOINT_URL_CLOUDCONTROL": world.emulators[target].endpoint_url,
    }
    with monkeypatch.context() as patched:
        for name, value in environment.items():
            patched.setenv(name, value)
        handler.container.cache_clear()
        try:
            result: dict[str, Any] = handler.lambda_handler(event, FakeContext())
        finally:
            handler.container.cache_clear()
    return result


def _member_audit(world: World, target: MemberTarget) -> AuditTable:
    client = world.org.client("dynamodb", target.account, target.region)
    return AuditTable(client, contracts.ORG_MEMBER_AUDIT_TABLE)
