"""The plan file: what ``cc-reaper plan`` decided, sealed by a digest, checked by ``apply``.

A plan is a JSON object (``kind`` ``cc-reaper.plan``, ``version`` 1) whose ``digest`` is the
SHA-256 of the canonical JSON of every other field: a plan edited by hand no longer matches.
The digest detects edits, not forgery (anyone who can write the file can re-digest it): the
checks that protect an account are the ones apply makes against the live world (the account,
the Region, the expiry, and each token's staleness decided again at apply time).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reaper.config import ReaperConfig
from reaper.parsing import PLAN_ID_RE, is_valid_token

from reaper_cli.errors import USAGE, CliError

KIND = "cc-reaper.plan"
VERSION = 1
# A plan id: the function's rule for an approval's planId (also the audit's delivery id).
PLAN_ID_RULE = "1 to 128 characters of [-A-Za-z0-9]"
TOKEN_FIELDS = (
    "token",
    "typeName",
    "identifier",
    "operation",
    "status",
    "ageSeconds",
    "thresholdMinutes",
    "reason",
)


def canonical(value: Any) -> bytes:
    """One byte string per JSON value: sorted keys, no spaces, UTF-8."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def sha256(value: Any) -> str:
    return hashlib.sha256(canonical(value)).hexdigest()


def config_json(config: ReaperConfig) -> dict[str, Any]:
    """The config as the plan stores it (JSON types only)."""
    return config.model_dump(mode="json")


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def seal(document: dict[str, Any]) -> dict[str, Any]:
    """The document with its ``digest`` (over everything else)."""
    body = {k: v for k, v in document.items() if k != "digest"}
    return {**body, "digest": sha256(body)}


@dataclass(frozen=True)
class Plan:
    """A plan whose digest, kind and fields were checked (not yet its account or expiry)."""

    id: str
    created_at: datetime
    expires_at: datetime
    account: str
    region: str
    config: ReaperConfig
    tokens: tuple[dict[str, Any], ...]

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


def load(path: Path) -> Plan:
    """Read and check a plan file; every refusal is one line (exit 2), before any call."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CliError(f"cannot read plan {path}: {exc.strerror}", USAGE) from None
    except (UnicodeDecodeError, ValueError):
        raise CliError(f"{path} is not JSON: not a cc-reaper plan", USAGE) from None
    if not isinstance(document, dict) or document.get("kind") != KIND:
        raise CliError(f"{path} is not a cc-reaper plan (kind {KIND!r})", USAGE)
    if document.get("version") != VERSION:
        raise CliError(
            f"{path} is a plan of version {document.get('version')!r}; this cc-reaper reads "
            f"version {VERSION}: make a new plan",
            USAGE,
        )
    plan_id = document.get("id")
    name = f"plan {plan_id}" if isinstance(plan_id, str) else f"plan {path}"
    if document.get("digest") != seal(document)["digest"]:
        raise CliError(
            f"{name} was changed after it was made (its digest does not match): "
            "make a new plan with cc-reaper plan",
            USAGE,
        )
    try:
        return _fields(document)
    except (KeyError, TypeError, Malformed) as exc:  # sealed, but not by cc-reaper plan
        detail = f"no {exc}" if isinstance(exc, KeyError) else str(exc)
        raise CliError(f"{name} is malformed ({detail}): make a new plan", USAGE) from None


class Malformed(ValueError):
    """A field of a sealed plan that cc-reaper plan would never have written."""


def _fields(document: dict[str, Any]) -> Plan:
    plan_id = document["id"]
    if not isinstance(plan_id, str) or not PLAN_ID_RE.fullmatch(plan_id):
        raise Malformed(f"id must be {PLAN_ID_RULE}")
    # An invalid config is ReaperConfig's error ("invalid config: ...", exit 2).
    config = ReaperConfig.model_validate(document["config"])
    # What apply will use must be what was planned: a config this cc-reaper reads differently
    # (a field added with a default, a value normalised) is refused, not silently changed.
    if sha256(config_json(config)) != document["configDigest"]:
        raise Malformed("its config reads differently with this cc-reaper (configDigest)")
    tokens = tuple(document["tokens"])
    for row in tokens:
        if not isinstance(row, dict) or set(row) != set(TOKEN_FIELDS):
            raise Malformed(f"each token must have exactly {', '.join(TOKEN_FIELDS)}")
        if not isinstance(row["token"], str) or not is_valid_token(row["token"]):
            raise Malformed(f"not a request token: {str(row['token'])[:140]!r}")
    return Plan(
        id=plan_id,
        created_at=_time(document["createdAt"]),
        expires_at=_time(document["expiresAt"]),
        account=str(document["account"]),
        region=str(document["region"]),
        config=config,
        tokens=tokens,
    )


def _time(text: object) -> datetime:
    if not isinstance(text, str):
        raise Malformed("createdAt and expiresAt must be ISO-8601 strings")
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise Malformed(f"not an ISO-8601 time: {text[:40]!r}") from None
    if at.tzinfo is None:
        raise Malformed("createdAt and expiresAt must carry a time zone")
    return at.astimezone(UTC)
