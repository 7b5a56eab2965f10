"""Enterprise options (cdk.json context), every one off by default: a customer managed KMS key,
a VPC, a permissions boundary and role path, tags, a name prefix.

``enterprise_from_context`` validates the six context keys at once and adds one line per bad
value to the caller's problem list, naming the key and the rule, as ``infra.config`` does for
the rest of the context. This module imports nothing from ``infra.config`` (which imports it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

CREATE = "create"

KMS_KEY_ARN_PATTERN = r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]{1,128}$"
# The account may be ${AWS::AccountId}: each member account of an organization has its own copy.
ACCOUNT_PLACEHOLDER = "${AWS::AccountId}"
POLICY_ARN_PATTERN = (
    r"^arn:aws[a-z-]*:iam::([0-9]{12}|aws|\$\{AWS::AccountId\}):policy/[\w+=,.@/-]{1,512}$"
)
VPC_ID_PATTERN = r"^vpc-[0-9a-f]{8}([0-9a-f]{9})?$"
SUBNET_ID_PATTERN = r"^subnet-[0-9a-f]{8}([0-9a-f]{9})?$"
ROUTE_TABLE_ID_PATTERN = r"^rtb-[0-9a-f]{8}([0-9a-f]{9})?$"
# IAM: "/" or "/a/b/", printable ASCII without spaces, at most 512 characters.
ROLE_PATH_PATTERN = r"^/([\x21-\x7e]+/)?$"
ROLE_PATH_MAX = 512
# Valid in every name it is put in front of (SQS, DynamoDB, Lambda, IAM, EventBridge, SNS, Logs,
# CloudWatch): letters, digits and hyphens, starting with a letter; short enough to leave room.
NAME_PREFIX_PATTERN = r"^(?![sS][gG]-)([A-Za-z][A-Za-z0-9-]{0,19})?$"  # no sg- (EC2 forbids)
# Tags as AWS accepts them on every resource type here; 50 per resource, one is the project's.
TAG_KEY_PATTERN = r"^[\w .:/=+\-@]{1,128}$"
TAG_VALUE_PATTERN = r"^[\w .:/=+\-@]{0,256}$"
MAX_USER_TAGS = 49


class VpcImport(BaseModel):
    """An existing VPC: the function's ENIs go in ``subnetIds`` (private subnets)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    vpc_id: str = Field(alias="vpcId")
    subnet_ids: tuple[str, ...] = Field(alias="subnetIds", min_length=1, max_length=16)
    route_table_ids: tuple[str, ...] = Field(default=(), alias="routeTableIds", max_length=16)
    endpoints: bool = Field(
        default=True,
        description="Create the endpoints the function calls; false when the VPC already "
        "reaches those services (shared endpoints with private DNS, or a NAT)",
    )

    @field_validator("vpc_id")
    @classmethod
    def _vpc_id(cls, value: str) -> str:
        return _matching(value, VPC_ID_PATTERN, "must be a VPC id (vpc- and 8 or 17 hex digits)")

    @field_validator("subnet_ids")
    @classmethod
    def _subnet_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for subnet in value:
            _matching(subnet, SUBNET_ID_PATTERN, f"{subnet!r} is not a subnet id (subnet-...)")
        return value

    @field_validator("route_table_ids")
    @classmethod
    def _route_table_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for table in value:
            _matching(table, ROUTE_TABLE_ID_PATTERN, f"{table!r} is not a route table id (rtb-...)")
        return value

    @model_validator(mode="after")
    def _gateway_needs_route_tables(self) -> VpcImport:
        if self.endpoints and not self.route_table_ids:
            raise ValueError(
                "routeTableIds must list the route tables of subnetIds: the DynamoDB gateway "
                "endpoint is a route in them (or set endpoints to false if the VPC already "
                "reaches the services)"
            )
        return self


class EnterpriseSettings(BaseModel):
    """What the enterprise context keys ask for; the defaults change nothing in the template."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    create_kms_key: bool = False
    kms_key_arn: str | None = None
    create_vpc: bool = False
    vpc: VpcImport | None = None
    permissions_boundary_arn: str | None = None
    role_path: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    name_prefix: str = ""

    @field_validator("kms_key_arn")
    @classmethod
    def _key_arn(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return _matching(
            value,
            KMS_KEY_ARN_PATTERN,
            f'must be null, "{CREATE}" or a KMS key ARN '
            "(arn:<partition>:kms:<region>:<account>:key/<key id>; not an alias: IAM grants "
            "and key policies name the key)",
        )

    @field_validator("permissions_boundary_arn")
    @classmethod
    def _boundary_arn(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return _matching(
            value,
            POLICY_ARN_PATTERN,
            "must be null or a managed policy ARN (arn:<partition>:iam::<account>:policy/<name>; "
            f"the account may be {ACCOUNT_PLACEHOLDER})",
        )

    @field_validator("role_path")
    @classmethod
    def _role_path(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if len(value) > ROLE_PATH_MAX or not re.fullmatch(ROLE_PATH_PATTERN, value):
            raise ValueError(
                "must be null or an IAM path: starts and ends with '/', printable ASCII "
                f"without spaces, at most {ROLE_PATH_MAX} characters (e.g. /reaper/)"
            )
        return value

    @field_validator("name_prefix")
    @classmethod
    def _name_prefix(cls, value: str) -> str:
        return _matching(
            value,
            NAME_PREFIX_PATTERN,
            "must be empty or up to 20 letters, digits and hyphens starting with a letter, "
            "not 'sg-' (valid in every resource name it goes in front of)",
        )

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_USER_TAGS:
            raise ValueError(f"at most {MAX_USER_TAGS} tags (AWS allows 50, one is 'project')")
        for key, tag_value in value.items():
            if key.lower().startswith("aws:") or not re.fullmatch(TAG_KEY_PATTERN, key):
                raise ValueError(
                    f"key {key!r} must be 1 to 128 letters, digits, spaces or _.:/=+-@ and "
                    "must not start with 'aws:'"
                )
            if not re.fullmatch(TAG_VALUE_PATTERN, tag_value):
                raise ValueError(
                    f"value of {key!r} must be 0 to 256 letters, digits, spaces or _.:/=+-@"
                )
        return value

    @property
    def kms_enabled(self) -> bool:
        return self.create_kms_key or self.kms_key_arn is not None

    @property
    def vpc_enabled(self) -> bool:
        return self.create_vpc or self.vpc is not None

    @property
    def is_default(self) -> bool:
        return self == EnterpriseSettings()


# context key -> the fields its value fills ("create" sets the first, anything else the second)
ENTERPRISE_KEYS: dict[str, tuple[str, ...]] = {
    "kmsKey": ("create_kms_key", "kms_key_arn"),
    "vpc": ("create_vpc", "vpc"),
    "permissionsBoundaryArn": ("permissions_boundary_arn",),
    "rolePath": ("role_path",),
    "tags": ("tags",),
    "namePrefix": ("name_prefix",),
}
_VPC_FORMS = (
    f'must be null, "{CREATE}" or {{"vpcId": "vpc-...", "subnetIds": ["subnet-...", ...], '
    '"routeTableIds": ["rtb-...", ...]}'
)


def enterprise_from_context(context: Mapping[str, Any], problems: list[str]) -> EnterpriseSettings:
    """The enterprise settings of ``context``; bad values add one line each to ``problems``.

    Returns the defaults when something is wrong: the caller raises on ``problems`` anyway.
    """
    values: dict[str, Any] = {}
    for name, fields in ENTERPRISE_KEYS.items():
        misspelt = [k for k in context if k.lower() == name.lower() and k != name]
        problems.extend(f"{k}: unknown key, did you mean {name!r}?" for k in misspelt)
        raw = context.get(name)
        try:
            value = _parse(raw, json_expected=name in ("vpc", "tags"))
        except ValueError as exc:
            problems.append(f"{name}: {exc} (got {raw!r})")
            continue
        if value is None:
            continue
        if len(fields) == 2 and value == CREATE:
            values[fields[0]] = True
        elif name == "vpc" and not isinstance(value, dict):
            problems.append(f"vpc: {_VPC_FORMS} (got {raw!r})")
        else:
            values[fields[-1]] = value
    try:
        return EnterpriseSettings(**values)
    except ValidationError as exc:
        problems.extend(_describe(error) for error in exc.errors())
        return EnterpriseSettings()


def _parse(raw: Any, *, json_expected: bool) -> Any:
    """cdk.json gives JSON types; ``-c key=value`` gives strings ("" and "null" mean none)."""
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    if text in ("", "null"):
        return None
    if json_expected and text.startswith(("{", "[")):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"is not valid JSON ({exc.msg} at column {exc.colno})") from exc
    return text


def _describe(error: Mapping[str, Any]) -> str:
    by_field = {field: name for name, fields in ENTERPRISE_KEYS.items() for field in fields}
    loc = [str(part) for part in error["loc"]]
    message = str(error["msg"]).removeprefix("Value error, ")
    where = by_field.get(loc[0], loc[0]) if loc else "context"
    where += "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in loc[1:])
    return f"{where}: {message} (got {error.get('input')!r})"


def _matching(value: str, pattern: str, rule: str) -> str:
    if not re.fullmatch(pattern, value):
        raise ValueError(rule)
    return value
