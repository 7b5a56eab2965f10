"""One emulator per test session, reset before each test, driven by a real boto3 client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from ccapi_emulator import EmulatorBackend, EmulatorConfig, EmulatorServer

# A manual clock (tests move time forward instead of sleeping) and no rate limit, unless a test
# turns one on with backend.configure().
TEST_CONFIG = EmulatorConfig(manual_clock=True, rate_per_second=None, random_seed=7)


def make_client(endpoint_url: str, **config: Any) -> Any:
    """A boto3 Cloud Control client on the emulator; no retries unless asked for."""
    options: dict[str, Any] = {"retries": {"total_max_attempts": 1}}
    options.update(config)
    return boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client("cloudcontrol", endpoint_url=endpoint_url, config=Config(**options))


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(host="127.0.0.1", port=0, config=TEST_CONFIG) as server:
        yield server


@pytest.fixture
def backend(emulator: EmulatorServer) -> EmulatorBackend:
    emulator.backend.reset()
    return emulator.backend


@pytest.fixture(scope="session")
def session_client(emulator: EmulatorServer) -> Any:
    return make_client(emulator.endpoint_url)


@pytest.fixture
def client(session_client: Any, backend: EmulatorBackend) -> Any:
    """A boto3 client on a freshly reset emulator."""
    return session_client


@pytest.fixture(scope="session")
def unchecked_client(emulator: EmulatorServer) -> Any:
    """A client that skips botocore's own parameter checks, so the emulator's are reached."""
    return make_client(emulator.endpoint_url, parameter_validation=False)


@pytest.fixture(scope="session")
def client_factory(emulator: EmulatorServer) -> Callable[..., Any]:
    """Make a client with other botocore Config options, on the session's or another emulator."""

    def factory(endpoint_url: str | None = None, **config: Any) -> Any:
        return make_client(endpoint_url or emulator.endpoint_url, **config)

    return factory
