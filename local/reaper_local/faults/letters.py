"""The oracle's reading of queue bodies, written from docs/DESIGN.md alone.

Independent of ``reaper.parsing`` on purpose: the fault matrix must not share the product's
assumptions. A dead-letter record is JSON with ``kind``, ``version``, ``requestTokens``,
``mode``, ``source``, ``deliveryId``, ``error{code,message}``, ``original``, ``failedAt`` and,
from version 2, an optional ``decisions`` object (token -> decision fields). Anything else in
the DLQ is a body the queue's redrive policy moved as it was (or Lambda's on-failure record).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from reaper_local.faults.workload import DEAD_LETTER_KIND

_TOKEN = re.compile(r"[-A-Za-z0-9+/=]{1,128}")
CANCEL_OUTCOMES = frozenset({"cancelled", "cancel_complete"})


@dataclass(frozen=True)
class Letter:
    """One DLQ message as the oracle reads it."""

    body: str
    record: bool  # a reaper dead-letter record (else a body moved as is, or on-failure)
    tokens: frozenset[str] = frozenset()
    decisions: dict[str, dict[str, Any]] = field(default_factory=dict)
    original: str = ""
    error_code: str = ""
    source: str = ""
    delivery_id: str = ""

    def claims_cancel(self, token: str) -> bool:
        """The letter's own decision says it cancelled ``token`` (version 2 records)."""
        return str(self.decisions.get(token, {}).get("outcome", "")) in CANCEL_OUTCOMES


def _valid(value: Any) -> bool:
    return isinstance(value, str) and _TOKEN.fullmatch(value) is not None


def _tokens_of(value: Any) -> set[str]:
    """Tokens of a documented work-queue body shape (bare, one, many, on-failure)."""
    if _valid(value):
        return {value}
    if not isinstance(value, dict):
        return set()
    if "requestPayload" in value and "requestContext" in value:
        return _tokens_of(value["requestPayload"])
    found = {value["requestToken"]} if _valid(value.get("requestToken")) else set()
    many = value.get("requestTokens")
    if isinstance(many, list):
        found |= {t for t in many if _valid(t)}
    detail = value.get("detail")
    if isinstance(detail, dict) and value.get("source") == "cloudcontrol-reaper":
        found |= _tokens_of(detail)
    return found


def read_letter(body: str) -> Letter:
    try:
        value = json.loads(body)
    except ValueError:
        return Letter(body, False, frozenset({body}) if _valid(body) else frozenset())
    if isinstance(value, dict) and value.get("kind") == DEAD_LETTER_KIND and "error" in value:
        tokens = value.get("requestTokens")
        decisions = value.get("decisions") if int(value.get("version") or 1) >= 2 else None
        raw_error = value.get("error")
        error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
        return Letter(
            body,
            True,
            frozenset(t for t in tokens if isinstance(t, str))
            if isinstance(tokens, list)
            else frozenset(),
            {k: v for k, v in decisions.items() if isinstance(v, dict)}
            if isinstance(decisions, dict)
            else {},
            str(value.get("original") or ""),
            str(error.get("code") or ""),
            str(value.get("source") or ""),
            str(value.get("deliveryId") or ""),
        )
    return Letter(body, False, frozenset(_tokens_of(value)))


def original_body(letter: Letter) -> str:
    """The work-queue body a letter stands for: a record's ``original``, else the body."""
    return letter.original if letter.record else letter.body
