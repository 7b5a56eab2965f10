"""Running it: in-process start and stop, the HTTP control plane, and the standalone command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError
from ccapi_emulator import EmulatorConfig, EmulatorServer


def _control(endpoint_url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    method = "GET" if data is None else "POST"
    request = urllib.request.Request(endpoint_url + path, data=data, method=method)
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def test_start_on_port_0_then_stop_leaves_no_thread_and_frees_the_port(client_factory):
    # Given the threads running before
    before = set(threading.enumerate())

    # When a server starts on a free port, keeps idle keep-alive connections, and stops
    with EmulatorServer(port=0, config=EmulatorConfig(rate_per_second=None)) as server:
        assert server.port > 0
        assert server.endpoint_url == f"http://127.0.0.1:{server.port}"
        client = client_factory(server.endpoint_url)
        for _ in range(3):
            client.list_resource_requests()
        assert len(set(threading.enumerate()) - before) >= 2  # server loop + a connection

    # Then every thread it started is gone (threads of earlier tests may end meanwhile: only
    # new ones count), and the port no longer answers
    assert set(threading.enumerate()) - before == set()
    with pytest.raises(EndpointConnectionError):
        client.list_resource_requests()


def test_stop_is_safe_twice_and_a_server_can_be_restarted():
    server = EmulatorServer(port=0)
    server.start()
    first_port = server.port
    server.stop()
    server.stop()
    server.start()
    try:
        assert (
            _control(server.endpoint_url, "/_emulator/state?requests=false")["request_count"] == 0
        )
    finally:
        server.stop()
    assert first_port > 0


def test_the_http_control_plane_seeds_moves_the_clock_configures_reads_and_resets():
    with EmulatorServer(port=0, config=EmulatorConfig(manual_clock=True)) as server:
        url = server.endpoint_url
        # Seed
        tokens = _control(
            url, "/_emulator/seed", {"count": 3, "status": "PENDING", "age_seconds": 60}
        )["tokens"]
        assert len(tokens) == 3
        # Clock
        before = server.backend.clock.now()
        moved = _control(url, "/_emulator/clock", {"advance_seconds": 3600})
        assert moved["now"] == server.backend.clock.now() == before + 3600
        assert moved["manual"] is True
        # Config, lifecycles included
        config = _control(
            url,
            "/_emulator/config",
            {
                "latency_ms": 5,
                "rate_per_second": None,
                "account_rate_per_second": 200,
                "lifecycles": {"AWS::RDS::*": {"final_status": None, "stuck_status": "PENDING"}},
            },
        )
        assert (
            config["latency_ms"],
            config["rate_per_second"],
            config["account_rate_per_second"],
        ) == (
            5,
            None,
            200,
        )
        assert config["lifecycles"]["AWS::RDS::*"]["stuck_status"] == "PENDING"
        assert server.backend.lifecycle_for("AWS::RDS::DBCluster").final_status is None
        # State
        state = _control(url, "/_emulator/state")
        assert state["status_counts"] == {"PENDING": 3}
        assert sorted(r["token"] for r in state["requests"]) == sorted(tokens)
        # Reset
        assert _control(url, "/_emulator/reset", {}) == {"reset": True}
        state = _control(url, "/_emulator/state")
        assert (state["request_count"], state["config"]["latency_ms"]) == (0, 0.0)


def test_the_control_plane_answers_a_bad_knob_with_400():
    with EmulatorServer(port=0) as server:
        request = urllib.request.Request(
            server.endpoint_url + "/_emulator/config",
            data=json.dumps({"throttle_probability": 2}).encode(),
            method="POST",
        )
        try:
            urllib.request.urlopen(request)
            raise AssertionError("expected HTTP 400")
        except urllib.error.HTTPError as error:
            assert error.code == 400
            assert "throttle_probability" in json.loads(error.read())["error"]


def _start_standalone(*args: str) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "ccapi_emulator", "--port", "0", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline() if process.stdout else ""
    assert line.startswith("ccapi-emulator listening on http://127.0.0.1:"), line
    return process, line.rsplit(" ", 1)[1].strip()


def test_the_standalone_command_serves_boto3_and_stops_on_sigterm(client_factory):
    # Given the emulator started as a command with 7 stuck requests and a low rate
    process, url = _start_standalone(
        "--seed-stuck",
        "7",
        "--seed-age",
        "7200",
        "--rate",
        "2",
        "--lifecycle",
        "AWS::RDS::*=stuck:PENDING",
    )
    try:
        # When boto3 lists the stuck requests and reads the state
        client = client_factory(url)
        listed = client.list_resource_requests(
            ResourceRequestStatusFilter={"OperationStatuses": ["IN_PROGRESS"]}
        )["ResourceRequestStatusSummaries"]
        state = _control(url, "/_emulator/state?requests=false")
    finally:
        # Then SIGTERM stops it cleanly
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    assert len(listed) == 7
    assert state["config"]["rate_per_second"] == 2.0
    assert state["config"]["lifecycles"]["AWS::RDS::*"]["stuck_status"] == "PENDING"


def test_the_console_script_is_installed():
    script = Path(sys.executable).with_name("ccapi-emulator")
    result = subprocess.run(
        [str(script), "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ},
    )
    assert result.returncode == 0
    assert "--latency-ms" in result.stdout
    assert "--seed-stuck" in result.stdout
