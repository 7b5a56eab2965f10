"""Enterprise context keys: defaults change nothing; each bad value is one line naming its key."""

from __future__ import annotations

import pytest

from infra.config import ConfigError, settings_from_context
from infra.enterprise_config import EnterpriseSettings, VpcImport

from .conftest import cdk_json_context

KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
VPC = {
    "vpcId": "vpc-0123456789abcdef0",
    "subnetIds": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
    "routeTableIds": ["rtb-0123456789abcdef0"],
}


def _enterprise(**overrides: object) -> EnterpriseSettings:
    return settings_from_context({**cdk_json_context(), **overrides}).infra.enterprise


def _problems(**overrides: object) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        settings_from_context({**cdk_json_context(), **overrides})
    return caught.value.problems


def test_cdk_json_ships_every_enterprise_option_off() -> None:
    # Given cdk.json as shipped, When it is validated
    settings = _enterprise()
    # Then every option is off and the settings equal the model's defaults
    assert settings.is_default
    assert not settings.kms_enabled and not settings.vpc_enabled
    for key in ("kmsKey", "vpc", "permissionsBoundaryArn", "rolePath", "tags", "namePrefix"):
        assert key in cdk_json_context(), key


def test_values_from_cdk_json_and_from_the_command_line_mean_the_same() -> None:
    # Given the same options as cdk.json types and as `-c key=value` strings
    as_json = _enterprise(
        kmsKey="create", vpc=VPC, tags={"team": "platform"}, namePrefix="acme-", rolePath="/r/"
    )
    as_strings = _enterprise(
        kmsKey="create",
        vpc='{"vpcId": "vpc-0123456789abcdef0", "subnetIds": ["subnet-0123456789abcdef0", '
        '"subnet-0123456789abcdef1"], "routeTableIds": ["rtb-0123456789abcdef0"]}',
        tags='{"team": "platform"}',
        namePrefix="acme-",
        rolePath="/r/",
    )
    # Then both parse to the same settings
    assert as_json == as_strings
    assert as_json.create_kms_key and as_json.kms_key_arn is None
    assert as_json.vpc == VpcImport.model_validate(VPC)
    assert _enterprise(kmsKey=KEY_ARN).kms_key_arn == KEY_ARN
    assert _enterprise(vpc="create").create_vpc
    # And an empty string on the command line means "none"
    assert _enterprise(kmsKey="", vpc="null", rolePath="").is_default


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"kmsKey": "alias/reaper"}, 'kmsKey: must be null, "create" or a KMS key ARN'),
        (
            {"kmsKey": "arn:aws:kms:eu-west-1:123456789012:alias/reaper"},
            "kmsKey: must be null",
        ),
        ({"vpc": "default"}, 'vpc: must be null, "create" or {"vpcId"'),
        ({"vpc": {**VPC, "vpcId": "vpc-1"}}, "vpc.vpcId: must be a VPC id"),
        ({"vpc": {**VPC, "subnetIds": []}}, "vpc.subnetIds: Tuple should have at least 1 item"),
        ({"vpc": {**VPC, "subnetIds": ["sn-1"]}}, "vpc.subnetIds: 'sn-1' is not a subnet id"),
        ({"vpc": {**VPC, "routeTableIds": []}}, "vpc: routeTableIds must list the route tables"),
        ({"vpc": {**VPC, "subnet": "x"}}, "vpc.subnet: Extra inputs are not permitted"),
        ({"vpc": '{"vpcId": '}, "vpc: is not valid JSON"),
        (
            {"permissionsBoundaryArn": "Boundary"},
            "permissionsBoundaryArn: must be null or a managed policy ARN",
        ),
        ({"rolePath": "reaper"}, "rolePath: must be null or an IAM path"),
        ({"rolePath": "/with space/"}, "rolePath: must be null or an IAM path"),
        ({"tags": {"aws:owner": "x"}}, "tags: key 'aws:owner' must be 1 to 128"),
        ({"tags": {"team": "a|b"}}, "tags: value of 'team' must be 0 to 256"),
        ({"tags": {f"k{i}": "v" for i in range(50)}}, "tags: at most 49 tags"),
        ({"tags": "team=platform"}, "tags: Input should be a valid dictionary"),
        ({"namePrefix": "acme_"}, "namePrefix: must be empty or up to 20 letters"),
        ({"namePrefix": "sg-reaper"}, "namePrefix: must be empty or up to 20 letters"),
        ({"namePrefix": "a" * 21}, "namePrefix: must be empty or up to 20 letters"),
        ({"KMSKey": "create"}, "KMSKey: unknown key, did you mean 'kmsKey'?"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_key_and_the_rule(
    overrides: dict[str, object], expected: str
) -> None:
    # Given one bad enterprise value, When the context is validated
    problems = _problems(**overrides)
    # Then exactly one line reports it, starting with the key
    matching = [p for p in problems if p.startswith(expected)]
    assert len(matching) == 1 and len(problems) == 1, problems


def test_every_bad_enterprise_value_is_reported_at_once_with_the_others() -> None:
    problems = _problems(kmsKey="alias/x", rolePath="x", namePrefix="_", schedule="hourly")
    assert sorted(p.split(":")[0] for p in problems) == [
        "kmsKey",
        "namePrefix",
        "rolePath",
        "schedule",
    ]
