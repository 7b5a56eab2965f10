"""How ``cc-reaper`` and ``ccapi-emulator`` behave as programs an operator runs: a version,
quiet ends in a pipe, one line for AWS configuration missing on every command, AWS_REGION,
tables that keep tokens whole where no terminal says how wide, progress while waiting, and
emulator flags refused in one line."""

from __future__ import annotations

import importlib.metadata
import io
import os
import socket
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import NoCredentialsError
from reaper.errors import StoreError
from reaper.models import Outcome
from reaper_cli import main as cli_main
from reaper_cli.account import region_name
from reaper_cli.errors import NO_CREDENTIALS, NO_REGION, aws_setup_line
from reaper_cli.main import READER_GONE, main, package_version
from reaper_cli.render import Output, decisions_table
from rich.console import Console

from .conftest import console_script
from .seeding import decision, seed_audit

HOURS = 3600

# --- --version --------------------------------------------------------------------------


def test_version_is_the_installed_distribution(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])

    assert exit_info.value.code == 0
    version = importlib.metadata.version("cloudcontrol-request-reaper")
    assert capsys.readouterr().out == f"cc-reaper {version}\n"


def test_version_outside_an_install_is_unknown(monkeypatch):
    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(cli_main.importlib.metadata, "version", not_installed)

    assert package_version() == "unknown"


# --- a reader that leaves early (| head -1) -------------------------------------------------


def test_a_reader_that_leaves_early_ends_the_command_quietly_with_141(stack, aws_env):
    # Given more decisions than a pipe holds (64 KiB), so writes go on after the reader left
    now = datetime.now(UTC)
    seed_audit(
        stack,
        *(
            decision(f"tok-{i:04d}-{uuid.uuid4()}", decided_at=now - timedelta(seconds=i))
            for i in range(400)
        ),
    )
    # When `cc-reaper --json audit | head -1` (the reader takes one line and closes)
    process = subprocess.Popen(
        [console_script(), "--stack-name", stack.name, "--json", "audit", "--since", "1h"],
        env={**os.environ, **aws_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()
    err = process.stderr.read()
    code = process.wait(timeout=60)

    # Then the line arrived, and the command ended like `seq 1000000 | head -1` does: 141,
    # nothing on stderr (no BrokenPipeError traceback, no "Exception ignored")
    assert first.startswith('{"'), err
    assert (code, err) == (READER_GONE, "")


def test_a_reader_that_leaves_is_141_in_process_too(cli, monkeypatch):
    class ClosedPipe(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())

    assert cli("--json", "kill-switch", "status").code == READER_GONE


# --- AWS configuration missing: one line, every command -------------------------------------

COMMANDS = [
    ["sweep"],
    ["cancel", "token-1"],
    ["status", "token-1"],
    ["unblock", "--type-name", "AWS::S3::Bucket", "--identifier", "bucket-1"],
    ["audit"],
    ["leftovers"],
    ["redrive"],
    ["kill-switch", "status"],
]
EXPLICIT = ["--table", "t", "--work-queue-url", "http://q/1/w", "--dlq-url", "http://q/1/d"]


@pytest.fixture
def no_aws(monkeypatch, tmp_path):
    """No credentials and no Region anywhere boto3 looks; endpoints that are never reached."""
    for name in (
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")


def run(capsys, argv):
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err.splitlines()


@pytest.mark.parametrize("explicit", [False, True], ids=["from-stack", "explicit-resources"])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_no_credentials_is_the_same_line_on_every_command(
    no_aws, monkeypatch, capsys, command, explicit
):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")

    code, out, err = run(capsys, [*(EXPLICIT if explicit else []), *command])

    assert (code, out, err) == (1, "", [f"cc-reaper: error: {NO_CREDENTIALS}"])


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_no_region_is_one_line_on_every_command(no_aws, monkeypatch, capsys, command):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")

    code, out, err = run(capsys, [*EXPLICIT, *command])

    assert (code, out, err) == (1, "", [f"cc-reaper: error: {NO_REGION}"])


def test_partial_credentials_name_what_is_missing(no_aws, monkeypatch, capsys):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")

    code, _, err = run(capsys, [*EXPLICIT, "kill-switch", "status"])

    assert code == 1
    (line,) = err
    assert line.startswith("cc-reaper: error: incomplete AWS credentials (")
    assert "AWS_SECRET_ACCESS_KEY" in line


def test_missing_credentials_wrapped_by_an_adapter_read_the_same():
    try:
        try:
            raise NoCredentialsError
        except NoCredentialsError as exc:
            raise StoreError("NoCredentialsError", str(exc)) from exc
    except StoreError as wrapped:
        assert aws_setup_line(wrapped) == NO_CREDENTIALS
    assert aws_setup_line(StoreError("ThrottlingException", "slow down")) is None


# --- AWS_REGION -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "env", "expected"),
    [
        ("eu-west-1", {"AWS_REGION": "eu-west-2", "AWS_DEFAULT_REGION": "eu-west-3"}, "eu-west-1"),
        (None, {"AWS_REGION": "eu-west-2", "AWS_DEFAULT_REGION": "eu-west-3"}, None),
        (None, {"AWS_REGION": "eu-west-2"}, "eu-west-2"),
        (None, {}, None),
    ],
)
def test_region_order_flag_then_botocores_variable_then_aws_region(flag, env, expected):
    # None: botocore decides (AWS_DEFAULT_REGION, then the profile's region)
    assert region_name(flag, env) == expected


def test_aws_region_alone_is_honoured(cli, monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "eu-west-3")

    elsewhere = cli("audit", stack_name="NoSuchStack")
    monkeypatch.setenv("AWS_REGION", "us-east-1")  # where the test's stack is
    here = cli("--json", "kill-switch", "status")

    assert elsewhere.err.strip().endswith(
        "stack NoSuchStack not found in eu-west-3: pass --stack-name, "
        "or --table/--work-queue-url/--dlq-url"
    )
    assert here.code == 0, here.err
    assert here.json_lines()[0]["engaged"] is False


# --- tables where no terminal says how wide -------------------------------------------------


@pytest.mark.parametrize(("columns", "width"), [(None, 160), ("120", 120), ("wide", 160)])
def test_a_pipe_gets_columns_or_160(monkeypatch, columns, width):
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)

    assert Output(json_lines=False).out.width == width


def test_the_decisions_table_keeps_tokens_whole_at_120_columns():
    tokens = [str(uuid.uuid4()) for _ in range(3)]
    decisions = [
        decision(
            token,
            type_name="AWS::ElasticLoadBalancingV2::LoadBalancer",
            outcome=Outcome.DEFERRED_KILL_SWITCH,
        )
        for token in tokens
    ]
    console = Console(width=120, file=io.StringIO(), color_system=None)

    console.print(decisions_table("Audit", decisions, when=True))

    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert all(len(line) <= 120 for line in text.splitlines())
    assert all(token in text for token in tokens)
    assert "deferred_kill_switch" in text and "…" not in text


# --- progress on every wait -----------------------------------------------------------------


@pytest.fixture
def waits(monkeypatch):
    """The description of every progress line a command opens (shown on a terminal only)."""
    described: list[str] = []
    spinner = Output.spinner

    def spy(self):
        progress = spinner(self)
        add_task = progress.add_task

        def recorded(description, *args, **kwargs):
            described.append(description)
            return add_task(description, *args, **kwargs)

        progress.add_task = recorded  # type: ignore[method-assign]
        return progress

    monkeypatch.setattr(Output, "spinner", spy)
    return described


def test_cancel_status_audit_and_redrive_show_progress(cli, emulator, stack, waits):
    (stale,) = emulator.seed(1, age_seconds=7 * HOURS)

    assert cli("cancel", stale).code == 0
    assert cli("status", stale).code == 0
    assert cli("audit", "--since", "1h").code == 0
    assert cli("redrive", "--wait").code == 0

    assert waits == [
        "deciding 1 token(s), following each cancel",
        "reading 1 token(s)",
        "reading the audit",
        "moving 0 dead letter(s) to the work queue",
    ]


# --- ccapi-emulator: a bad flag or a busy port is one line, exit 2 --------------------------


def emulator_process(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ccapi_emulator", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.fixture
def busy_port():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["--throttle-probability", "2"],
            "argument --throttle-probability: expected a fraction from 0 to 1, got '2'",
        ),
        (
            ["--rate", "fast"],
            "argument --rate: expected calls per second > 0, or 0, 'none' or 'off' for no "
            "limit, got 'fast'",
        ),
        (["--port", "70000"], "argument --port: expected a port from 0 to 65535"),
    ],
)
def test_a_bad_emulator_flag_names_the_flag_and_the_rule(args, line):
    result = emulator_process(*args)

    assert (result.returncode, result.stdout) == (2, "")
    (error,) = result.stderr.splitlines()
    assert error.startswith(f"ccapi-emulator: error: {line}")


def test_a_busy_port_is_one_line_not_a_traceback(busy_port):
    result = emulator_process("--port", str(busy_port))

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        f"ccapi-emulator: error: argument --port: 127.0.0.1:{busy_port} is in use by another "
        "process (--port 0 picks a free port) (see --help)"
    ]
