"""UpdateResource's JSON Patch, applied to a resource model (add, replace, remove)."""

from __future__ import annotations

import json

from ccapi_emulator import errors


def apply_patch(model: str | None, patch_document: str) -> str | None:
    """Apply a JSON Patch (add, replace, remove on object members) to a resource model."""
    try:
        patch = json.loads(patch_document)
        if not isinstance(patch, list):
            raise TypeError("a patch document is a JSON list")
        properties = json.loads(model) if model else {}
        for op in patch:
            *parents, leaf = str(op["path"]).lstrip("/").split("/")
            target = properties
            for part in parents:
                target = target.setdefault(part, {})
            if op["op"] in ("add", "replace"):
                target[leaf] = op["value"]
            elif op["op"] == "remove":
                target.pop(leaf, None)
        return json.dumps(properties, sort_keys=True)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise errors.ApiError("InvalidRequestException", f"Invalid PatchDocument: {exc}") from None
