"""The local account: moto's server and the Cloud Control emulator in this process, and the
synthesized stack created in moto's CloudFormation, so every name is the one the template gives.

```python
with LocalAccount(EmulatorConfig(manual_clock=True)) as account:
    stack = account.deploy(synthesize(context={"dryRun": False}))
    account.env(stack)    # the environment the function gets, endpoints included
```

No network beyond loopback, no Docker: synthesis runs ``app.py`` in a subprocess (the CDK
app writes a cloud assembly; jsii starts its own Node process), and the assembly is deployed
with :func:`reaper_local.cfn_deploy.deploy_to_moto`.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
from ccapi_emulator import EmulatorConfig, EmulatorServer
from moto.server import ThreadedMotoServer
from reaper import contracts

from reaper_local.cfn_deploy import DEFAULT_REGION, DeployedStack, deploy_to_moto

REPO_ROOT = Path(__file__).resolve().parents[2]
STACK_NAME = "CloudControlReaper"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
SYNTH_TIMEOUT_SECONDS = 180


class SynthError(RuntimeError):
    """``app.py`` did not produce a cloud assembly; the message ends with its stderr."""


def cdk_json_context() -> dict[str, Any]:
    """The context `npx cdk synth` would pass: cdk.json's ``context``."""
    context: dict[str, Any] = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    return context


def synthesize(outdir: Path, context: dict[str, Any] | None = None) -> Path:
    """Run the CDK app as the CDK CLI does (context in CDK_CONTEXT_JSON, CDK_OUTDIR)."""
    env = {
        **os.environ,
        "CDK_CONTEXT_JSON": json.dumps({**cdk_json_context(), **(context or {})}),
        "CDK_OUTDIR": str(outdir),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    result = subprocess.run(  # noqa: S603 - our own interpreter running our own app
        [sys.executable, str(REPO_ROOT / "app.py")],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=SYNTH_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0 or not (outdir / f"{STACK_NAME}.template.json").exists():
        raise SynthError(f"app.py failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return outdir


class LocalAccount:
    """moto's server (CloudFormation, DynamoDB, SQS, EventBridge, Lambda, S3, SSM) and the
    Cloud Control emulator, both on loopback ports the OS picks; stopped on exit."""

    def __init__(self, emulator_config: EmulatorConfig | None = None) -> None:
        self._emulator_config = emulator_config or EmulatorConfig()
        self._moto: ThreadedMotoServer | None = None
        self._emulator: EmulatorServer | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.region = DEFAULT_REGION

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> LocalAccount:
        # moto's server logs every request through werkzeug (and the traceback of every call it
        # does not implement, which the client gets as an HTTP 500 anyway), and its
        # CloudFormation warns once per resource it skips: DeployedStack names those instead.
        logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
        logging.getLogger("moto").setLevel(logging.ERROR)
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        self._emulator = EmulatorServer(host="127.0.0.1", port=0, config=self._emulator_config)
        self._emulator.start()
        self._tmp = tempfile.TemporaryDirectory(prefix="reaper-local-")
        return self

    def stop(self) -> None:
        if self._emulator is not None:
            self._emulator.stop()
            self._emulator = None
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> LocalAccount:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ what runs
    @property
    def moto_endpoint(self) -> str:
        if self._moto is None:
            raise RuntimeError("LocalAccount is not started")
        host, port = self._moto.get_host_and_port()
        return f"http://{host}:{port}"

    @property
    def emulator(self) -> EmulatorServer:
        if self._emulator is None:
            raise RuntimeError("LocalAccount is not started")
        return self._emulator

    @property
    def workdir(self) -> Path:
        if self._tmp is None:
            raise RuntimeError("LocalAccount is not started")
        return Path(self._tmp.name)

    def client(self, service: str) -> Any:
        """A boto3 client of moto's server (``cloudcontrol``: of the emulator)."""
        endpoint = self.emulator.endpoint_url if service == "cloudcontrol" else self.moto_endpoint
        session = boto3.session.Session(
            aws_access_key_id=CREDENTIALS["aws_access_key_id"],
            aws_secret_access_key=CREDENTIALS["aws_secret_access_key"],
            region_name=self.region,
        )
        return session.client(service, endpoint_url=endpoint)  # type: ignore[call-overload]

    def synthesize_and_deploy(self, context: dict[str, Any] | None = None) -> DeployedStack:
        """Synthesize the app with cdk.json's context (plus ``context``), create it in moto."""
        assembly = synthesize(self.workdir / "cdk.out", context)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # moto warns per skipped resource
            return deploy_to_moto(self.moto_endpoint, assembly, stack_name=STACK_NAME)

    def endpoint_env(self) -> dict[str, str]:
        """boto3's standard configuration pointing every client at this account."""
        return {
            "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL": self.moto_endpoint,
            "AWS_ENDPOINT_URL_CLOUDCONTROL": self.emulator.endpoint_url,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }

    def function_env(self, stack: DeployedStack) -> dict[str, str]:
        """The environment CloudFormation gave the function (read back from moto's Lambda)."""
        name = stack.outputs[contracts.OUTPUT_FUNCTION_NAME]
        configuration = self.client("lambda").get_function_configuration(FunctionName=name)
        variables: dict[str, str] = configuration.get("Environment", {}).get("Variables", {})
        return dict(variables)


def main(argv: list[str] | None = None) -> int:
    """``python -m reaper_local.localstack``: the local account with the stack, until Ctrl-C."""
    import argparse  # noqa: PLC0415
    import signal  # noqa: PLC0415
    import threading  # noqa: PLC0415

    parser = argparse.ArgumentParser(
        prog="python -m reaper_local.localstack", description=main.__doc__
    )
    parser.add_argument("--seed-stale", type=int, default=3, help="stuck requests 7 h old")
    parser.add_argument("--seed-young", type=int, default=2, help="stuck requests 1 h old")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    config = EmulatorConfig(rate_per_second=None, cancel_complete_after_seconds=1.0)
    with LocalAccount(config) as account:
        stack = account.synthesize_and_deploy()
        backend = account.emulator.backend
        backend.seed(args.seed_stale, type_name="AWS::Logs::LogGroup", age_seconds=7 * 3600)
        backend.seed(args.seed_young, type_name="AWS::Logs::LogGroup", age_seconds=3600)
        for name, value in account.endpoint_env().items():
            print(f"export {name}={value}")
        print(f"# stack {stack.stack_name}: {stack.status}; try: cc-reaper sweep", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
