"""Given something wrong (no such stack or table, no credentials), then ``cc-reaper`` says so in
one line on stderr with a non-zero exit, never a traceback; and the installed console script
works as a real process, ``emulator`` included."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from reaper_cli.main import main

from .conftest import console_script


def test_a_missing_stack_is_one_line(cli):
    result = cli("audit", stack_name="NoSuchStack")

    assert result.code == 1
    assert result.err.strip().splitlines() == [
        "cc-reaper: error: stack NoSuchStack not found in us-east-1: pass --stack-name, "
        "or --table/--work-queue-url/--dlq-url"
    ]


def test_a_missing_table_is_one_line(cli, emulator):
    result = cli("--table", "no-such-table", "kill-switch", "status", stack_name=None)

    assert result.code == 1
    (line,) = result.err.strip().splitlines()
    assert line.startswith("cc-reaper: error: ResourceNotFoundException:")


def test_explicit_resources_skip_the_stack(cli, stack, emulator):
    (token,) = emulator.seed(1, age_seconds=60)

    result = cli(
        "--json",
        "cancel",
        token,
        "--table",
        stack.table,
        "--work-queue-url",
        stack.work_queue_url,
        "--dlq-url",
        stack.dlq_url,
        stack_name="NoSuchStack",
    )

    assert result.code == 0, result.err
    assert result.json_lines()[0]["outcome"] == "not_stale"


def test_no_credentials_is_one_line(cli, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    result = cli("kill-switch", "status")

    assert result.code == 1
    assert result.err.strip().splitlines() == [
        "cc-reaper: error: no AWS credentials: use --profile, AWS_PROFILE or the usual "
        "environment variables"
    ]


def test_an_unknown_profile_is_one_line(cli):
    result = cli("--profile", "nobody", "audit")

    assert result.code == 1
    assert result.err.strip().splitlines() == [
        "cc-reaper: error: The config profile (nobody) could not be found"
    ]


@pytest.mark.parametrize(
    "command",
    ["sweep", "cancel", "status", "unblock", "audit", "leftovers", "redrive", "kill-switch"],
)
def test_every_command_has_help(cli, command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli(command, "--help")
    assert exit_info.value.code == 0
    assert f"usage: cc-reaper {command}" in capsys.readouterr().out


def test_the_console_script_runs_a_command_and_fails_cleanly(stack, aws_env):
    env = {**os.environ, **aws_env}
    script = console_script()

    ok = subprocess.run(
        [script, "--stack-name", stack.name, "--json", "kill-switch", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    bad = subprocess.run(
        [script, "--stack-name", stack.name, "status", "bad token!"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["engaged"] is False
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
    assert bad.stderr.startswith("cc-reaper: error: not a request token: 'bad token!'")


def test_the_emulator_command_starts_the_emulator(stack, aws_env):
    process = subprocess.Popen(
        [console_script(), "emulator", "--port", "0", "--seed-stuck", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        assert line.startswith("ccapi-emulator listening on http://127.0.0.1:")
        endpoint = line.rsplit(" ", 1)[1].strip()
        env = {**os.environ, **aws_env, "AWS_ENDPOINT_URL_CLOUDCONTROL": endpoint}
        listed = subprocess.run(
            [console_script(), "--json", "--stack-name", stack.name, "status", "unknown-token"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert listed.returncode == 1, listed.stderr
        assert json.loads(listed.stdout)["error"]["code"] == "RequestTokenNotFoundException"
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert process.returncode == 0


def test_the_emulator_command_passes_help_through(capsys):
    with pytest.raises(SystemExit):
        main(["emulator", "--help"])
    assert "usage: ccapi-emulator" in capsys.readouterr().out


def test_usage_errors_are_one_line(cli):
    with pytest.raises(SystemExit) as exit_info:
        cli("kill-switch", "maybe")
    assert exit_info.value.code == 2
