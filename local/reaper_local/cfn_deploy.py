"""Create the synthesized CDK stack for real in moto's CloudFormation, as `cdk deploy` would.

What `cdk deploy` does after `cdk bootstrap`, done against a moto server endpoint:

1. the bootstrap resources the template relies on: the assets bucket
   ``cdk-hnb659fds-assets-<account>-<region>`` and the SSM parameter
   ``/cdk-bootstrap/hnb659fds/version`` (the template's BootstrapVersion parameter);
2. the file assets of the cloud assembly, published as cdk-assets would (a directory is
   zipped, a file uploaded as is) to the destinations ``<stack>.assets.json`` names;
3. what AWS provides publicly: the Powertools layer ARN, read from the public SSM parameter
   ``/aws/service/powertools/...``. moto reserves ``/aws/`` names and its Lambda refuses an
   unknown layer ARN, so a stand-in layer (empty; the local runner imports Powertools from
   the venv) is published in moto, its ARN stored under ``/reaper-local/...``, and the
   template's SSM-typed parameter defaults to that name instead. Only that parameter's
   ``Default`` changes (moto resolves defaults before it applies CreateStack's Parameters,
   so an override alone fails); no resource of the template is touched;
4. ``CreateStack`` with that template, waiting for CREATE_COMPLETE.

Three honest differences from AWS, all reported in :class:`DeployedStack`:

- moto's CloudFormation skips resource types it does not implement (for this template the
  queue and topic policies, the CloudWatch alarms and the Lambda event invoke config); they
  are listed in ``skipped_resource_types``, not stripped from the template.
- moto invokes a function synchronously (in Docker) whenever a message reaches a queue with
  an enabled event source mapping. There is no Docker here and the local runner plays the
  SQS poller itself, so the mappings are disabled after creation
  (``disabled_event_source_mappings``); pass ``disable_event_source_mappings=False`` to keep them.
- moto never fires schedules, yet treats a rule without an event pattern (a schedule rule) as
  matching every event put on its bus, and cannot deliver to a Lambda target: with the
  schedule rule's target in place every PutEvents on the default bus fails. The targets of
  schedule rules are removed after creation (``removed_schedule_targets``, rule names); the
  local runner starts sweeps itself.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient

BOOTSTRAP_QUALIFIER = "hnb659fds"
BOOTSTRAP_VERSION_PARAMETER = f"/cdk-bootstrap/{BOOTSTRAP_QUALIFIER}/version"
BOOTSTRAP_VERSION = "30"  # any version the template's CheckBootstrapVersion rule accepts
DEFAULT_ACCOUNT_ID = "123456789012"  # moto's default account
DEFAULT_REGION = "us-east-1"
STAND_IN_LAYER_NAME = "powertools-stand-in"
LOCAL_PARAMETER_PREFIX = "/reaper-local"
# Fixed timestamp: the same assembly always zips to the same bytes.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


class LocalDeployError(RuntimeError):
    """The stack did not reach CREATE_COMPLETE; the message carries moto's stack events."""


@dataclass(frozen=True)
class DeployedStack:
    stack_name: str
    stack_id: str
    status: str
    outputs: dict[str, str]
    skipped_resource_types: tuple[str, ...]
    disabled_event_source_mappings: tuple[str, ...]
    redirected_parameters: dict[str, str]  # public SSM name -> local stand-in name
    removed_schedule_targets: tuple[str, ...]  # schedule rules left without targets


def deploy_to_moto(
    endpoint_url: str,
    cloud_assembly_dir: str | Path,
    *,
    stack_name: str = "CloudControlReaper",
    account_id: str = DEFAULT_ACCOUNT_ID,
    region: str = DEFAULT_REGION,
    disable_event_source_mappings: bool = True,
) -> DeployedStack:
    """Bootstrap moto, publish the assets, create the stack and return its outputs.

    ``cloud_assembly_dir`` is a synthesized cdk.out (``npx cdk synth`` or ``App.synth()``).
    Credentials are irrelevant to moto; ``account_id`` must match the server's account
    (moto's default unless the server was started with another ``MOTO_ACCOUNT_ID``).
    """
    assembly = Path(cloud_assembly_dir)
    session = boto3.session.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto takes any credentials
        region_name=region,
    )

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=endpoint_url)  # type: ignore[call-overload]

    substitutions = {"${AWS::AccountId}": account_id, "${AWS::Region}": region}
    template = json.loads((assembly / f"{stack_name}.template.json").read_text())

    _bootstrap(client("s3"), client("ssm"), account_id, region)
    _publish_assets(client("s3"), assembly / f"{stack_name}.assets.json", substitutions)
    return create_stack(
        client,
        stack_name,
        template,
        capabilities=("CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"),
        disable_event_source_mappings=disable_event_source_mappings,
    )


def create_stack(
    client: Callable[[str], Any],
    stack_name: str,
    template: dict[str, Any],
    *,
    parameters: dict[str, str] | None = None,
    capabilities: tuple[str, ...] = ("CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"),
    disable_event_source_mappings: bool = True,
) -> DeployedStack:
    """Create ``template`` with ``client``'s account (the Powertools parameter pointed at a
    stand-in), wait for it, and undo what moto would do that Lambda does not (see below)."""
    redirected = _provide_public_parameters(client("lambda"), client("ssm"), template)
    cloudformation: CloudFormationClient = client("cloudformation")
    stack_id = cloudformation.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(template),
        Parameters=[
            {"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()
        ],
        Capabilities=list(capabilities),  # type: ignore[arg-type]
    )["StackId"]
    stack = _wait_for_completion(cloudformation, stack_name)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    resources = cloudformation.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]
    disabled: tuple[str, ...] = ()
    if disable_event_source_mappings:
        disabled = _disable_event_source_mappings(client("lambda"), resources)
    detached = _detach_schedule_targets(client("events"), template, resources)
    return DeployedStack(
        stack_name=stack_name,
        stack_id=stack_id,
        status=stack["StackStatus"],
        outputs=outputs,
        skipped_resource_types=unsupported_resource_types(template),
        disabled_event_source_mappings=disabled,
        redirected_parameters=redirected,
        removed_schedule_targets=detached,
    )


def unsupported_resource_types(template: dict[str, Any]) -> tuple[str, ...]:
    """Resource types of ``template`` that moto's CloudFormation skips instead of creating."""
    from moto.cloudformation.parsing import get_model_map  # noqa: PLC0415 - heavy import

    supported = get_model_map()
    used = {resource["Type"] for resource in template.get("Resources", {}).values()}
    return tuple(sorted(t for t in used if t not in supported and not t.startswith("Custom::")))


def _bootstrap(s3: Any, ssm: Any, account_id: str, region: str) -> None:
    """What `cdk bootstrap` leaves in an environment that the template refers to."""
    bucket = f"cdk-{BOOTSTRAP_QUALIFIER}-assets-{account_id}-{region}"
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    ssm.put_parameter(
        Name=BOOTSTRAP_VERSION_PARAMETER, Value=BOOTSTRAP_VERSION, Type="String", Overwrite=True
    )


def _publish_assets(s3: Any, manifest_path: Path, substitutions: dict[str, str]) -> None:
    """cdk-assets' job for file assets: zip directories, upload to every destination."""
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("dockerImages"):
        raise LocalDeployError("Docker image assets cannot be published without Docker")
    for asset in manifest.get("files", {}).values():
        source = manifest_path.parent / asset["source"]["path"]
        body = (
            _zip_directory(source) if asset["source"]["packaging"] == "zip" else source.read_bytes()
        )
        for destination in asset["destinations"].values():
            bucket = _substitute(destination["bucketName"], substitutions)
            s3.put_object(Bucket=bucket, Key=destination["objectKey"], Body=body)


def _provide_public_parameters(
    lambda_client: Any, ssm: Any, template: dict[str, Any]
) -> dict[str, str]:
    """Stand-ins for the public ``/aws/service/...`` SSM parameters the template reads.

    The only one this template reads is the Powertools layer ARN; a stand-in layer is
    published so that moto's Lambda accepts the ARN. Points the SSM-typed parameters'
    defaults in ``template`` at the stand-ins and returns public name -> stand-in name.
    """
    public = [
        parameter
        for parameter in template.get("Parameters", {}).values()
        if parameter.get("Type", "").startswith("AWS::SSM::Parameter::Value")
        and parameter.get("Default", "").startswith("/aws/service/")
    ]
    if not public:
        return {}
    layer_arn = lambda_client.publish_layer_version(
        LayerName=STAND_IN_LAYER_NAME,
        Description="Stand-in for the public Powertools layer (the local runner uses the venv)",
        Content={"ZipFile": _zip_files({"python/.keep": b""})},
    )["LayerVersionArn"]
    redirected = {}
    for parameter in public:
        name = parameter["Default"]
        local_name = LOCAL_PARAMETER_PREFIX + name.removeprefix("/aws")
        ssm.put_parameter(Name=local_name, Value=layer_arn, Type="String", Overwrite=True)
        parameter["Default"] = local_name
        redirected[name] = local_name
    return redirected


def _wait_for_completion(cloudformation: CloudFormationClient, stack_name: str) -> Any:
    try:
        cloudformation.get_waiter("stack_create_complete").wait(
            StackName=stack_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
        )
    except Exception as exc:  # botocore WaiterError: report what moto said instead
        events = cloudformation.describe_stack_events(StackName=stack_name)["StackEvents"]
        reasons = [
            f"{e['LogicalResourceId']}: {e['ResourceStatus']} {e.get('ResourceStatusReason', '')}"
            for e in events
            if "FAILED" in e["ResourceStatus"]
        ]
        raise LocalDeployError(f"{stack_name} did not reach CREATE_COMPLETE: {reasons}") from exc
    return cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]


def _disable_event_source_mappings(lambda_client: Any, resources: Any) -> tuple[str, ...]:
    disabled = []
    for resource in resources:
        if resource["ResourceType"] == "AWS::Lambda::EventSourceMapping":
            uuid = resource["PhysicalResourceId"]
            lambda_client.update_event_source_mapping(UUID=uuid, Enabled=False)
            disabled.append(uuid)
    return tuple(disabled)


def _detach_schedule_targets(
    events: Any, template: dict[str, Any], resources: Any
) -> tuple[str, ...]:
    scheduled = {
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Events::Rule"
        and "ScheduleExpression" in resource.get("Properties", {})
    }
    detached = []
    for resource in resources:
        if resource["LogicalResourceId"] in scheduled:
            rule = resource["PhysicalResourceId"]
            target_ids = [t["Id"] for t in events.list_targets_by_rule(Rule=rule)["Targets"]]
            if target_ids:
                events.remove_targets(Rule=rule, Ids=target_ids)
            detached.append(rule)
    return tuple(detached)


def _substitute(text: str, substitutions: dict[str, str]) -> str:
    for placeholder, value in substitutions.items():
        text = text.replace(placeholder, value)
    return text


def _zip_directory(directory: Path) -> bytes:
    files = {
        path.relative_to(directory).as_posix(): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }
    return _zip_files(files)


def _zip_files(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()
