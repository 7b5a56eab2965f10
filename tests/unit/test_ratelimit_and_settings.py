"""Given the shared token bucket and the environment, the limits hold and bad settings stop
the function with a clear message."""

from __future__ import annotations

import threading
import time

import pytest
from reaper.ratelimit import TokenBucket
from reaper.settings import Settings, SettingsError


class ManualClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.lock = threading.Lock()

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def test_the_bucket_allows_its_rate_and_no_more():
    clock = ManualClock()
    bucket = TokenBucket(rate=20, monotonic=clock.monotonic, sleep=clock.sleep)
    for _ in range(201):
        bucket.acquire()
    # 200 calls past the 2-call burst at 20/s take 10 s.
    assert 9.8 <= clock.now <= 10.1


def test_threads_share_one_rate():
    bucket = TokenBucket(rate=200)
    start = time.monotonic()
    threads = [
        threading.Thread(target=lambda: [bucket.acquire() for _ in range(25)]) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    # 200 calls at 200/s with a burst of 20 can never take less than 0.9 s (a slow machine
    # may take longer: only the floor is the bucket's promise).
    assert elapsed >= 0.85


def test_settings_need_every_resource_name():
    with pytest.raises(SettingsError, match="WORK_QUEUE_URL, DEAD_LETTER_QUEUE_URL"):
        Settings.from_env({"AUDIT_TABLE_NAME": "t"})


ENV = {"AUDIT_TABLE_NAME": "t", "WORK_QUEUE_URL": "w", "DEAD_LETTER_QUEUE_URL": "d"}


def test_settings_default_to_a_dry_run_and_validate_the_config():
    settings = Settings.from_env(ENV)
    assert settings.config.dry_run and not settings.tracing
    with pytest.raises(SettingsError, match="REAPER_CONFIG"):
        Settings.from_env({**ENV, "REAPER_CONFIG": '{"max_cancellations_per_run": -1}'})


def test_tracing_is_on_only_in_lambda_and_not_turned_off():
    lam = {**ENV, "AWS_LAMBDA_FUNCTION_NAME": "f"}
    assert Settings.from_env(lam).tracing
    assert not Settings.from_env({**lam, "POWERTOOLS_TRACE_DISABLED": "true"}).tracing
