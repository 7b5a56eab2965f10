"""The function's environment, validated once per container. The only reader of os.environ."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import ValidationError

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

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        missing = [
            name
            for name in ("AUDIT_TABLE_NAME", "WORK_QUEUE_URL", "DEAD_LETTER_QUEUE_URL")
            if not env.get(name)
        ]
        if missing:
            raise SettingsError(f"missing environment variables: {', '.join(missing)}")
        try:
            config = ReaperConfig.model_validate_json(env.get("REAPER_CONFIG") or "{}")
        except ValidationError as exc:
            raise SettingsError(f"REAPER_CONFIG is invalid: {exc}") from None
        trace_off = env.get("POWERTOOLS_TRACE_DISABLED", "").lower() in ("1", "true", "yes")
        return cls(
            audit_table_name=env["AUDIT_TABLE_NAME"],
            work_queue_url=env["WORK_QUEUE_URL"],
            dead_letter_queue_url=env["DEAD_LETTER_QUEUE_URL"],
            config=config,
            # Tracing costs a cold-start import: only in Lambda, and only if not turned off.
            tracing=not trace_off and bool(env.get("AWS_LAMBDA_FUNCTION_NAME")),
        )
