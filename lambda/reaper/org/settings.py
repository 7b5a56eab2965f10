"""The collector's environment, validated once per container (the member function's is
reaper.settings). The only reader of os.environ in organization mode."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from reaper import contracts
from reaper.settings import SettingsError

RETENTION_RULE = "a whole number of days from 1 to 3650"


@dataclass(frozen=True, slots=True)
class CollectorSettings:
    table_name: str
    retention_days: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CollectorSettings:
        env = os.environ if environ is None else environ
        table = env.get(contracts.ENV_ORG_AUDIT_TABLE_NAME, "").strip()
        if not table:
            raise SettingsError(
                f"missing environment variables: {contracts.ENV_ORG_AUDIT_TABLE_NAME}"
            )
        text = env.get(contracts.ENV_ORG_RETENTION_DAYS, "").strip()
        days = contracts.ORG_DEFAULT_RETENTION_DAYS
        if text:
            if not text.isdigit() or not 1 <= int(text) <= 3650:
                raise SettingsError(
                    f"{contracts.ENV_ORG_RETENTION_DAYS} must be {RETENTION_RULE} (got {text!r})"
                )
            days = int(text)
        return cls(table_name=table, retention_days=days)
