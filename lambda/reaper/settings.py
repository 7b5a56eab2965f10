"""The function's environment, validated once per container. The only reader of os.environ."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import ValidationError

from reaper import contracts
from reaper.config import ReaperConfig


class SettingsError(ValueError):
    """An environment variable is missing or invalid: the function cannot start."""


@dataclass(frozen=True, slots=True)
class Settings:
    audit_table_name: str
    work_queue_url: str
    dead_letter_queue_url: str
    config: ReaperConfig
    tracing: bool
    # Where plans awaiting approval are announced (requireApproval); None: nowhere.
    approval_topic_arn: str | None = None
    # Organization mode without an event source mapping: the schedule drains the work queue.
    drain_work_queue: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        missing = [name for name in contracts.REQUIRED_ENV if not env.get(name)]
        if missing:
            raise SettingsError(f"missing environment variables: {', '.join(missing)}")
        try:
            config = ReaperConfig.model_validate_json(env.get(contracts.ENV_REAPER_CONFIG) or "{}")
        except ValidationError as exc:
            raise SettingsError(f"{contracts.ENV_REAPER_CONFIG} is invalid: {exc}") from None
        trace_off = env.get(contracts.ENV_TRACE_DISABLED, "").lower() in ("1", "true", "yes")
        return cls(
            audit_table_name=env[contracts.ENV_AUDIT_TABLE_NAME],
            work_queue_url=env[contracts.ENV_WORK_QUEUE_URL],
            dead_letter_queue_url=env[contracts.ENV_DEAD_LETTER_QUEUE_URL],
            config=config,
            # Tracing costs a cold-start import: only in Lambda, and only if not turned off.
            tracing=not trace_off and bool(env.get("AWS_LAMBDA_FUNCTION_NAME")),
            approval_topic_arn=env.get(contracts.ENV_APPROVAL_TOPIC_ARN) or None,
            drain_work_queue=env.get(contracts.ENV_WORK_QUEUE_DRAIN)
            == contracts.WORK_QUEUE_DRAIN_SCHEDULE,
        )
