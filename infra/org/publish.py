"""Upload the member's code zip to the organization's code bucket of every member Region.

Run after deploying the CloudControlReaperOrgCode-<region> stacks and before (or with) the
management stack, whose StackSet creates functions from these objects:

    python -m infra.org.publish            # reads cdk.json's organization key

The key is the zip's SHA-256 (infra/org/code.py), the same the member template names, so a
publish is idempotent and a changed lambda/ is a new object next to the old one (the running
members keep theirs until the StackSet updates them).
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from infra.config import ConfigError, settings_from_context
from infra.org.code import CodeBundle, build_bundle
from infra.org.settings import OrganizationSettings, code_stack_name

CDK_JSON = Path(__file__).resolve().parents[2] / "cdk.json"


class PublishError(RuntimeError):
    """A Region's code bucket is missing or refused the upload: one line saying which."""


@dataclass(frozen=True)
class Published:
    region: str
    bucket: str
    key: str
    uploaded: bool  # False: the object was already there with these bytes


def publish(
    organization: OrganizationSettings,
    bundle: CodeBundle,
    s3_client_for: Callable[[str], Any],
) -> list[Published]:
    """Put ``bundle`` in ``<prefix>-<region>`` for each Region; skip a bucket that has it."""
    results = []
    for region in organization.regions:
        s3 = s3_client_for(region)
        bucket = organization.code_bucket_name(region)
        if _has_object(s3, bucket, bundle.key):
            results.append(Published(region, bucket, bundle.key, uploaded=False))
            continue
        try:
            s3.put_object(
                Bucket=bucket,
                Key=bundle.key,
                Body=bundle.body,
                ChecksumSHA256=_b64_sha256(bundle),
                ContentType="application/zip",
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            hint = f": deploy {code_stack_name(region)} first" if code == "NoSuchBucket" else ""
            raise PublishError(f"s3://{bucket}/{bundle.key}: {code}{hint}") from exc
        results.append(Published(region, bucket, bundle.key, uploaded=True))
    return results


def _has_object(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            return False
        raise
    return True


def _b64_sha256(bundle: CodeBundle) -> str:
    return base64.b64encode(bytes.fromhex(bundle.sha256)).decode()


def main() -> None:
    try:
        settings = settings_from_context(json.loads(CDK_JSON.read_text()).get("context", {}))
    except ConfigError as exc:
        sys.exit(str(exc))
    organization = settings.infra.organization
    if organization is None:
        sys.exit("cdk.json has no organization key: nothing to publish")
    session = boto3.session.Session()
    try:
        results = publish(
            organization, build_bundle(), lambda r: session.client("s3", region_name=r)
        )
    except PublishError as exc:
        sys.exit(str(exc))
    for item in results:
        state = "uploaded" if item.uploaded else "already there"
        print(f"s3://{item.bucket}/{item.key}  {state}")


if __name__ == "__main__":
    main()
