"""The JSON Schema of ``report.json``, generated from the report's dataclasses.

Field types come from the type hints of ``reconcile.report.model``'s dataclasses, field
descriptions from the ``Attributes:`` sections of their docstrings, so the schema
cannot drift from the model. The shipped copy is ``reconcile/templates/report.schema.json``
(regenerate it with ``python -m reconcile.report.schema``; a test checks it is current).
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import types
import typing
from importlib import resources
from typing import Any

from reconcile.report import model as report_model

SCHEMA_FILE = "report.schema.json"
_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _descriptions(cls: type) -> dict[str, str]:
    """``name: text`` entries of the docstring's Attributes section (continuations joined)."""
    doc = cls.__doc__ or ""
    found: dict[str, str] = {}
    in_section, current = False, None
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped == "Attributes:":
            in_section = True
            continue
        if not in_section or not stripped:
            continue
        match = re.match(r"^(\w+): (.*)$", stripped)
        if match and line.startswith(" " * 8) and not line.startswith(" " * 12):
            current = match[1]
            found[current] = match[2]
        elif current:
            found[current] += " " + stripped
    return found


def _type_schema(hint: Any, defs: dict[str, Any]) -> dict[str, Any]:
    origin = typing.get_origin(hint)
    if hint is Any:
        return {}
    if origin in (typing.Union, types.UnionType):
        options = [_type_schema(a, defs) for a in typing.get_args(hint)]
        simple = [o.get("type") for o in options]
        if all(isinstance(t, str) for t in simple):
            return {"type": simple}
        return {"anyOf": options}
    if hint is type(None):
        return {"type": "null"}
    if origin is list:
        (item,) = typing.get_args(hint)
        return {"type": "array", "items": _type_schema(item, defs)}
    if origin is dict:
        return {"type": "object"}
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        name = hint.__name__
        if name not in defs:
            defs[name] = {}  # reserve against recursion
            defs[name] = _object_schema(hint, defs)
        return {"$ref": f"#/$defs/{name}"}
    simple_types = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if hint in simple_types:
        return {"type": simple_types[hint]}
    raise TypeError(f"no JSON Schema for {hint!r}")


def _object_schema(cls: type, defs: dict[str, Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls, {**vars(report_model), **vars(sys.modules[cls.__module__])})
    described = _descriptions(cls)
    properties = {}
    for item in dataclasses.fields(cls):
        prop = _type_schema(hints[item.name], defs)
        if item.name in described:
            prop = {"description": described[item.name], **prop}
        properties[item.name] = prop
    summary = (cls.__doc__ or "").strip().splitlines()[0]
    return {
        "type": "object",
        "description": summary,
        "properties": properties,
        "required": [f.name for f in dataclasses.fields(cls)],
        "additionalProperties": False,
    }


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``report.json``."""
    defs: dict[str, Any] = {}
    root = _object_schema(report_model.Report, defs)
    root["properties"]["schema_version"] = {
        **root["properties"]["schema_version"],
        "const": report_model.REPORT_SCHEMA_VERSION,
    }
    return {
        "$schema": _DIALECT,
        "$id": f"urn:reconcile:report:v{report_model.REPORT_SCHEMA_VERSION}",
        "title": "reconcile audit report",
        **root,
        "$defs": dict(sorted(defs.items())),
    }


def schema_text() -> str:
    """The schema as the shipped file holds it."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def shipped_schema_text() -> str:
    """The shipped ``report.schema.json``."""
    return (resources.files("reconcile") / "templates" / SCHEMA_FILE).read_text("utf-8")


if __name__ == "__main__":  # python -m reconcile.report.schema > reconcile/templates/...
    sys.stdout.write(schema_text())
