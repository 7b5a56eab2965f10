"""Validate a request body against botocore's own Cloud Control model, as AWS does.

One walk of the input shape checks required members, types, length and value ranges, patterns
and enums, and words each problem as AWS's ValidationException does.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

from ccapi_emulator.errors import ApiError, validation_error

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "boolean": (bool,),
    "double": (int, float),
    "float": (int, float),
    "timestamp": (int, float, str),
    "list": (list,),
    "map": (dict,),
    "structure": (dict,),
}


@functools.cache
def service_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("cloudcontrol")


@functools.cache
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def operation_model(name: str) -> OperationModel:
    if name not in service_model().operation_names:
        raise ApiError("UnknownOperationException", f"Unknown operation {name}")
    return service_model().operation_model(name)


def validate(operation: OperationModel, params: Any) -> None:
    """Raise the ValidationException AWS would send for ``params``, or return."""
    if not isinstance(params, dict):
        raise ApiError(
            "SerializationException", "Start of structure or map found where not expected"
        )
    problems: list[str] = []
    if operation.input_shape is not None:
        _walk(operation.input_shape, params, "", problems)
    if problems:
        raise validation_error(problems)


def _at(path: str, member: str) -> str:
    name = member[:1].lower() + member[1:]
    return f"{path}.{name}" if path else name


def _has_type(kind: str, value: Any) -> bool:
    if kind in ("integer", "long") and isinstance(value, bool):
        return False
    return isinstance(value, _JSON_TYPES.get(kind, (object,)))


def _problem(shape: Shape, value: Any, path: str, rule: str) -> str:
    """One problem, worded as AWS words it; sensitive values (resource models) are not echoed."""
    shown = "Value" if shape.metadata.get("sensitive") else f"Value '{value}'"
    return f"{shown} at '{path}' failed to satisfy constraint: Member must {rule}"


def _walk(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    kind = shape.type_name
    if not _has_type(kind, value):
        problems.append(_problem(shape, value, path, f"be of type {kind}"))
        return
    meta = shape.metadata
    if kind == "structure":
        for name in getattr(shape, "required_members", []):
            if value.get(name) is None:
                problems.append(
                    f"Value null at '{_at(path, name)}' failed to satisfy constraint: "
                    "Member must not be null"
                )
        for name, member in shape.members.items():  # type: ignore[attr-defined]
            if value.get(name) is not None:
                _walk(member, value[name], _at(path, name), problems)
    elif kind == "list":
        _check_range(shape, len(value), value, path, problems)
        for index, item in enumerate(value, start=1):
            _walk(shape.member, item, f"{path}.{index}.member", problems)  # type: ignore[attr-defined]
    elif kind == "string":
        _check_range(shape, len(value), value, path, problems)
        if "pattern" in meta and not _pattern(meta["pattern"]).fullmatch(value):
            rule = f"satisfy regular expression pattern: {meta['pattern']}"
            problems.append(_problem(shape, value, path, rule))
        enum = meta.get("enum")
        if enum and value not in enum:
            rule = f"satisfy enum value set: [{', '.join(enum)}]"
            problems.append(_problem(shape, value, path, rule))
    elif kind in ("integer", "long"):
        _check_range(shape, value, value, path, problems)


def _check_range(shape: Shape, measured: int, value: Any, path: str, problems: list[str]) -> None:
    what = "value" if shape.type_name in ("integer", "long") else "length"
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and measured < low:
        problems.append(_problem(shape, value, path, f"have {what} greater than or equal to {low}"))
    elif high is not None and measured > high:
        problems.append(_problem(shape, value, path, f"have {what} less than or equal to {high}"))
