"""Play an AWS Organization on moto's server: a management (central) account, member
accounts made with organizations:CreateAccount, each member's resources by their fixed names
(reaper.contracts ORG_MEMBER_*) in every Region, the central table and bus, and a relay that
plays the AWS machinery between them, which moto cannot run (no Lambda without Docker):

- central bus rule -> SNS topic -> each member's function: the rule targets an SQS queue
  here; the relay wraps each command in the SNS->Lambda event shape and hands it to the
  member's org control (``reaper.org.control``, built as the function builds it);
- each member's forwarding rule -> central bus -> collector queue: the member's default bus
  rule targets a capture queue; the relay moves each event to the collector queue, adding
  ``account`` where moto leaves it out (EventBridge keeps the member's account on a
  cross-account delivery);
- collector queue -> collector function: the relay calls ``reaper.org.collector.collect``
  with the SQS event shape and deletes what the partial batch response does not name.

```python
org = play_organization(endpoint, members=3, regions=("eu-west-1", "us-east-1"))
with org.relay():          # a thread, until the block ends
    ...                    # cc-reaper kill-switch on --org --regions ... --reason ...
```
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from reaper import contracts
from reaper.org.central_table import CentralTable
from reaper.org.collector import collect
from reaper.org.control import MemberControl

from reaper_local.audit_schema import create_audit_table
from reaper_local.localstack import CREDENTIALS
from reaper_local.org_shapes import MANAGEMENT_ACCOUNT, FakeContext, sns_event, sqs_event

ROLE_NAME = "cc-reaper-operator"
CONTROL_QUEUE = "cc-reaper-play-control"  # plays ORG_CONTROL_TOPIC_NAME
COLLECTOR_QUEUE = "cc-reaper-play-collector"
FORWARD_QUEUE = "cc-reaper-play-forward"  # plays the member's forwarding rule
RELAY_PAUSE_SECONDS = 0.1

Deliver = Callable[[dict[str, Any], "MemberTarget"], None]


@dataclass(frozen=True, order=True)
class MemberTarget:
    account: str
    region: str


class PlayedOrganization:
    def __init__(self, endpoint: str, members: list[str], regions: tuple[str, ...]) -> None:
        self.endpoint = endpoint
        self.members = members
        self.regions = regions
        self.central_region = regions[0]
        self.offline: set[MemberTarget] = set()
        self.delivered: list[tuple[MemberTarget, dict[str, Any]]] = []
        self._credentials: dict[str, dict[str, str]] = {}
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ sessions and clients
    @property
    def targets(self) -> list[MemberTarget]:
        return [MemberTarget(a, r) for a in self.members for r in self.regions]

    def central_session(self) -> boto3.session.Session:
        return management_session(self.central_region)

    def session(self, account: str, region: str) -> boto3.session.Session:
        """As the account's own principal: STS AssumeRole from the management account."""
        if account == MANAGEMENT_ACCOUNT:
            return management_session(region)
        if account not in self._credentials:
            sts = self.central_session().client("sts", endpoint_url=self.endpoint)
            self._credentials[account] = sts.assume_role(
                RoleArn=f"arn:aws:iam::{account}:role/{ROLE_NAME}", RoleSessionName="org-play"
            )["Credentials"]
        found = self._credentials[account]
        return boto3.session.Session(
            aws_access_key_id=found["AccessKeyId"],
            aws_secret_access_key=found["SecretAccessKey"],
            aws_session_token=found["SessionToken"],
            region_name=region,
        )

    def client(self, service: str, account: str, region: str) -> Any:
        """One client per service, account and Region (each costs ~0.1 s to make)."""
        key = (service, account, region)
        with self._lock:
            found = self._clients.get(key)
        if found is None:
            session = self.session(account, region)
            found = session.client(service, endpoint_url=self.endpoint)  # type: ignore[call-overload]
            with self._lock:
                self._clients[key] = found
        return found

    def central(self, service: str) -> Any:
        return self.client(service, MANAGEMENT_ACCOUNT, self.central_region)

    def central_table(self) -> CentralTable:
        return CentralTable(self.central("dynamodb"))

    def member_control(self, target: MemberTarget) -> MemberControl:
        """The member function's org control, built from the member's own credentials."""
        return MemberControl(
            self.client("dynamodb", target.account, target.region),
            contracts.ORG_MEMBER_AUDIT_TABLE,
            self.client("events", target.account, target.region),
        )

    # ------------------------------------------------------------------ resources
    def wire(self, *, resources: bool = True) -> None:
        """The central account's and every member's resources (``resources=False``: their
        stacks made them) and the queues and rules that capture what the relay moves."""
        self.add_central(resources=resources)
        for target in self.targets:
            self.add_member(target, resources=resources)

    def add_member(self, target: MemberTarget, *, resources: bool = True) -> None:
        """The member stack's resources, by their fixed names (``resources=False``: a member
        stack created them already), and the capture of its forwarding rule."""
        sqs = self.client("sqs", target.account, target.region)
        if resources:
            dynamodb = self.client("dynamodb", target.account, target.region)
            create_audit_table(dynamodb, contracts.ORG_MEMBER_AUDIT_TABLE)
            dlq = sqs.create_queue(QueueName=contracts.ORG_MEMBER_DEAD_LETTER_QUEUE)["QueueUrl"]
            redrive = {"deadLetterTargetArn": _queue_arn(sqs, dlq), "maxReceiveCount": 5}
            sqs.create_queue(
                QueueName=contracts.ORG_MEMBER_WORK_QUEUE,
                Attributes={"RedrivePolicy": json.dumps(redrive)},
            )
        forward = sqs.create_queue(QueueName=FORWARD_QUEUE)["QueueUrl"]
        events = self.client("events", target.account, target.region)
        events.put_rule(
            Name="cc-reaper-forward",
            EventPattern=json.dumps({"source": [contracts.REAPER_EVENT_SOURCE]}),
        )
        events.put_targets(
            Rule="cc-reaper-forward", Targets=[{"Id": "central", "Arn": _queue_arn(sqs, forward)}]
        )

    def remove_member_table(self, target: MemberTarget) -> None:
        """A member whose stack is gone (or broken): its audit table no longer exists."""
        dynamodb = self.client("dynamodb", target.account, target.region)
        dynamodb.delete_table(TableName=contracts.ORG_MEMBER_AUDIT_TABLE)

    def restore_member_table(self, target: MemberTarget) -> None:
        dynamodb = self.client("dynamodb", target.account, target.region)
        create_audit_table(dynamodb, contracts.ORG_MEMBER_AUDIT_TABLE)

    def add_central(self, *, resources: bool = True) -> None:
        """The management stack's table and bus (``resources=False``: a management stack
        created them already), and the queues that play its topic and its collector's."""
        if resources:
            self._add_central_table_and_bus()
        sqs = self.central("sqs")
        control = sqs.create_queue(QueueName=CONTROL_QUEUE)["QueueUrl"]
        sqs.create_queue(QueueName=COLLECTOR_QUEUE)
        events = self.central("events")
        events.put_rule(
            Name="cc-reaper-play-kill-switch",
            EventBusName=contracts.ORG_BUS_NAME,
            EventPattern=json.dumps(
                {
                    "source": [contracts.ORG_EVENT_SOURCE],
                    "detail-type": [contracts.DETAIL_TYPE_ORG_KILL_SWITCH],
                }
            ),
        )
        events.put_targets(
            Rule="cc-reaper-play-kill-switch",
            EventBusName=contracts.ORG_BUS_NAME,
            Targets=[{"Id": "topic", "Arn": _queue_arn(sqs, control)}],
        )

    def _add_central_table_and_bus(self) -> None:
        dynamodb = self.central("dynamodb")
        dynamodb.create_table(
            TableName=contracts.ORG_AUDIT_TABLE_NAME,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": contracts.TABLE_PARTITION_KEY, "AttributeType": "S"},
                {"AttributeName": contracts.TABLE_SORT_KEY, "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": contracts.TABLE_PARTITION_KEY, "KeyType": "HASH"},
                {"AttributeName": contracts.TABLE_SORT_KEY, "KeyType": "RANGE"},
            ],
        )
        self.central("events").create_event_bus(Name=contracts.ORG_BUS_NAME)

    # ------------------------------------------------------------------ the relay
    def relay_once(self, deliver: Deliver | None = None) -> int:
        """Commands to members, members' events to the collector, the collector's batch into
        the central table. Returns how many messages moved."""
        deliver = deliver or self._deliver
        moved = 0
        sqs = self.central("sqs")
        control = sqs.get_queue_url(QueueName=CONTROL_QUEUE)["QueueUrl"]
        for message in _drain(sqs, control):
            command = json.loads(message["Body"])
            command.setdefault("account", MANAGEMENT_ACCOUNT)  # moto leaves it out
            for target in self.targets:
                if target not in self.offline:
                    deliver(sns_event(json.dumps(command), self.central_region), target)
            moved += 1
        collector = sqs.get_queue_url(QueueName=COLLECTOR_QUEUE)["QueueUrl"]
        for target in self.targets:
            member_sqs = self.client("sqs", target.account, target.region)
            forward = member_sqs.get_queue_url(QueueName=FORWARD_QUEUE)["QueueUrl"]
            for message in _drain(member_sqs, forward):
                event = json.loads(message["Body"])
                event.setdefault("account", target.account)  # moto leaves it out
                sqs.send_message(QueueUrl=collector, MessageBody=json.dumps(event))
                moved += 1
        batch = sqs.receive_message(
            QueueUrl=collector, MaxNumberOfMessages=10, AttributeNames=["All"]
        ).get("Messages", [])
        if batch:
            event = sqs_event(batch, _queue_arn(sqs, collector))
            response = collect(event, FakeContext(), self.central_table())  # type: ignore[arg-type]
            failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
            for message in batch:
                if message["MessageId"] not in failed:
                    sqs.delete_message(QueueUrl=collector, ReceiptHandle=message["ReceiptHandle"])
            moved += len(batch)
        return moved

    def _deliver(self, event: dict[str, Any], target: MemberTarget) -> None:
        self.delivered.append((target, event))
        self.member_control(target).handle(event)

    def settle(self, deliver: Deliver | None = None, rounds: int = 20) -> None:
        """Relay until nothing moves (at most ``rounds`` times)."""
        for _ in range(rounds):
            if not self.relay_once(deliver):
                return

    def member_env(self, target: MemberTarget) -> dict[str, str]:
        """What the member's function would have in its environment (credentials, Region,
        the names its stack gives it), to invoke ``reaper.handler.lambda_handler`` as it."""
        self.session(target.account, target.region)  # assumes the role once
        found = self._credentials[target.account]
        sqs = self.client("sqs", target.account, target.region)
        return {
            "AWS_ACCESS_KEY_ID": found["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": found["SecretAccessKey"],
            "AWS_SESSION_TOKEN": found["SessionToken"],
            "AWS_DEFAULT_REGION": target.region,
            "AWS_REGION": target.region,
            contracts.ENV_AUDIT_TABLE_NAME: contracts.ORG_MEMBER_AUDIT_TABLE,
            contracts.ENV_WORK_QUEUE_URL: sqs.get_queue_url(
                QueueName=contracts.ORG_MEMBER_WORK_QUEUE
            )["QueueUrl"],
            contracts.ENV_DEAD_LETTER_QUEUE_URL: sqs.get_queue_url(
                QueueName=contracts.ORG_MEMBER_DEAD_LETTER_QUEUE
            )["QueueUrl"],
        }

    @contextmanager
    def relay(self, deliver: Deliver | None = None) -> Iterator[PlayedOrganization]:
        """Relay in a thread while the block runs (the CLI waits on the read-back)."""
        stop = threading.Event()
        errors: list[BaseException] = []

        def loop() -> None:
            while not stop.is_set():
                try:
                    if not self.relay_once(deliver):
                        stop.wait(RELAY_PAUSE_SECONDS)
                except Exception as exc:  # shown when the block ends
                    errors.append(exc)
                    return

        thread = threading.Thread(target=loop, name="org-relay", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join(timeout=10)
        if errors:
            raise errors[0]


def management_session(region: str) -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id=CREDENTIALS["aws_access_key_id"],
        aws_secret_access_key=CREDENTIALS["aws_secret_access_key"],
        region_name=region,
    )


def _queue_arn(sqs: Any, url: str) -> str:
    arn: str = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return arn


def _drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return found
        for message in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        found.extend(batch)


def reset_moto(endpoint: str) -> None:
    """moto keeps one state per process, whatever server serves it (an organization can be
    created once per account): start and end an organization's play from a clean state."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=30):  # noqa: S310 - loopback only
        pass


def create_organization(endpoint: str, members: int = 3) -> list[str]:
    """An organization (moto's default account manages it) with ``members`` new accounts."""
    organizations = management_session("us-east-1").client("organizations", endpoint_url=endpoint)
    organizations.create_organization(FeatureSet="ALL")
    accounts = []
    for n in range(members):
        status = organizations.create_account(
            AccountName=f"member-{n}", Email=f"member-{n}@example.com"
        )["CreateAccountStatus"]
        accounts.append(status["AccountId"])
    return sorted(accounts)


def play_organization(
    endpoint: str,
    members: int = 3,
    regions: tuple[str, ...] = ("eu-west-1", "us-east-1"),
) -> PlayedOrganization:
    """An organization of ``members`` new accounts, each a member in every Region, and the
    central resources in the management account's first Region (call ``reset_moto`` first
    if the process's moto already played one). Where stacks create the resources instead:
    ``create_organization``, deploy them, then ``PlayedOrganization(endpoint, accounts,
    regions).wire(resources=False)``."""
    org = PlayedOrganization(endpoint, create_organization(endpoint, members), regions)
    org.wire()
    return org
