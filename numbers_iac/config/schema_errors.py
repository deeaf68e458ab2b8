"""JSON Schema errors worded for people, each pointing at the value or key it is about.

`schemas/numbers.schema.json` is the single source of what is structurally valid (and the file
editors point at); jsonschema's own messages name JSON types and echo values, so each error is
reworded here: "expected a whole number, got text", never a repeated secret.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from typing import Any

import jsonschema

from numbers_iac.config.checks import PLANNED_STATE_BACKENDS, STATE_BACKENDS
from numbers_iac.config.problems import FieldPath, Problems, did_you_mean
from numbers_iac.config.text_checks import has_control_character
from numbers_iac.config.yaml_marks import Document
from numbers_iac.providers.registry import PLANNED_TYPES, PROVIDER_TYPES

_TYPE_NAMES = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true/false",
    "object": "a mapping",
    "array": "a list",
    "null": "nothing",
}

_PATTERN_HINTS = {
    "country": "expected a two-letter ISO 3166 country code such as FR",
    "prefix": 'expected national digits only, such as "3"',
    "base_url": "expected an http:// or https:// URL",
    "settle_time": "expected seconds, or a duration such as 90s, 15m or 1h",
    "release_after": "expected a number of days such as 30d (0d: no cooling-off)",
    "region": "expected a region's name, not blank",
    "app": "expected an app's name, not blank",
    "moved_from": "expected a declaration's name: letters, digits, '-' and '_', starting with a "
    "letter or digit, at most 64 characters",
}


#: fields written as a number of days with its unit: a bare number is not "in quotes" away
_DAYS = {"release_after"}


def _kind_of(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, datetime.date):
        return "a date"
    return f"a {type(value).__name__}"


def reported_by_checks(error: jsonschema.ValidationError, doc: Document) -> bool:
    """Errors left to the semantic checks, which know more than the schema can say:

    - a placeholder for an unset variable (see `load_config`'s `resolve_env`) has an unknown
      value: only its type is checked;
    - unknown keys in a provider's settings or a declaration are checked against the
      adapter class in use, which lists what it accepts;
    - a provider type or state backend planned but not shipped (or a provider type a test
      registers) is "not available in this version", not "not one of".
    """
    path: FieldPath = tuple(error.absolute_path)
    if path in doc.deferred:
        return error.validator != "type"
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        if len(path) == 2 and path[0] in ("providers", "numbers"):
            return True
        backend = error.instance.get("backend") if isinstance(error.instance, Mapping) else None
        return path == ("state",) and backend in PLANNED_STATE_BACKENDS
    if error.validator == "enum" and isinstance(error.instance, str):
        if len(path) == 3 and path[0] == "providers" and path[2] == "type":
            return error.instance in PROVIDER_TYPES or error.instance in PLANNED_TYPES
        return path == ("state", "backend") and error.instance in PLANNED_STATE_BACKENDS
    return False


#: the settings of every state backend (`$defs.state`)
_STATE_KEYS = ("backend", "path", "dsn")


def _known(backend: Any) -> bool:
    """A backend whose settings the schema knows (none written: the default, sqlite)."""
    return backend is None or backend in STATE_BACKENDS


def explain_schema_error(
    error: jsonschema.ValidationError, doc: Document, problems: Problems
) -> None:
    path: FieldPath = tuple(error.absolute_path)
    kind = error.validator
    if "propertyNames" in error.relative_schema_path or "propertyNames" in error.schema_path:
        if has_control_character(error.instance):  # reported, located, by `text_checks`
            return
        key_path = (*path, error.instance)
        rule = error.schema.get("description", "") if isinstance(error.schema, Mapping) else ""
        what = "label key" if path and path[-1] == "labels" else "name"
        problems.add(
            doc.key_mark(key_path), path, f"'{error.instance}' is not a valid {what}: {rule}"
        )
    elif kind == "required":
        for key in error.validator_value:
            if isinstance(error.instance, Mapping) and key not in error.instance:
                problems.add(doc.mark(path), path, f"missing required key '{key}'")
    elif kind == "additionalProperties":
        known = list(error.schema.get("properties", {}))
        backend = error.instance.get("backend") if path == ("state",) else None
        if not _known(backend):  # misspelt: a setting of any backend may be meant for it
            known = list(_STATE_KEYS)
        for key in error.instance:
            if key not in known and not has_control_character(key):
                where = "top-level key" if not path else "key"
                problems.add(
                    doc.key_mark((*path, key)),
                    (*path, key),
                    f"unknown {where} '{key}'{did_you_mean(key, known)}",
                )
    else:
        problems.add(doc.mark(path), path, _value_error_text(error, doc, path))


def _value_error_text(error: jsonschema.ValidationError, doc: Document, path: FieldPath) -> str:
    kind, value, expected = error.validator, error.instance, error.validator_value
    shown = doc.shown(value, path)
    if kind == "enum":
        options = [str(v) for v in expected]
        hint = did_you_mean(value, options) if isinstance(value, str) and shown != "" else ""
        if doc.is_secret(path):
            hint = ""
        return f"{shown} is not one of {', '.join(options)}{hint}"
    if kind == "const":
        wanted = json.dumps(expected)
        quoted = isinstance(value, str) and value == wanted
        hint = " (a number: write it without quotes)" if quoted else ""
        return f"{shown} is not supported: expected {wanted}{hint}"
    if kind == "type":
        written = None if doc.is_secret(path) else doc.texts.get(path)
        name = next((p for p in reversed(path) if isinstance(p, str)), "")
        if name in _DAYS and isinstance(value, int) and not isinstance(value, bool):
            return f"expected a number of days such as 30d, got a whole number (write {value}d)"
        text = _type_error_text(value, expected, written, secret=doc.is_secret(path))
        # `numbers:` with every entry gone wants {}; one declaration written empty wants keys
        return text if len(path) <= 1 else text.replace(" (write {} for none)", "")
    if kind == "minimum":
        return f"{shown} is too small: the minimum is {expected}"
    if kind == "maximum":
        return f"{shown} is too large: the maximum is {expected}"
    if kind == "exclusiveMinimum":
        return f"{shown} is too small: it must be more than {expected}"
    if kind in ("minItems", "maxItems") and error.schema.get("minItems") == error.schema.get(
        "maxItems"
    ):
        return f"expected a list of {expected} items, got {len(value)}"
    if kind == "minItems":
        return f"expected at least {expected} items, got {len(value)}"
    if kind == "maxItems":
        return f"expected at most {expected} items, got {len(value)}"
    if kind == "minLength":
        return "must not be empty"
    if kind == "pattern":
        name = next((p for p in reversed(path) if isinstance(p, str)), "")
        return f"{shown}: {_PATTERN_HINTS.get(name, 'does not match ' + expected)}"
    if kind == "uniqueItems":
        return "lists the same item more than once"
    if path in doc.from_env:
        return f"the value read from the environment is invalid ({kind})"
    if doc.is_secret(path):  # jsonschema's own words repeat the value
        return f"the secret value is invalid ({kind})"
    return error.message


def _type_error_text(
    value: Any, expected: str | list[str], written: str | None, secret: bool = False
) -> str:
    names = [expected] if isinstance(expected, str) else list(expected)
    wanted = _either([_TYPE_NAMES.get(n, n) for n in names])
    message = f"expected {wanted}, got {_kind_of(value)}"
    if "integer" in names and isinstance(value, float) and not secret:
        whole = value.is_integer()
        message = f"expected {wanted}, got {value!r}" + (f" (write {int(value)})" if whole else "")
    if value is None and names in (["object"], ["array"]):  # `numbers:` with every entry gone
        message += " (write {} for none)" if names == ["object"] else " (write [] for none)"
    # nothing written (`base_url:`) needs a value, not quotes
    if "string" in names and value is not None and not isinstance(value, (list, Mapping)):
        if secret:  # a token written as a number is still a token: never repeat it
            message += " (write it in quotes to keep it as text)"
        elif written is not None:
            message += f' (write "{written}" in quotes to keep it as text)'
    return message


def _either(options: list[str]) -> str:
    return options[0] if len(options) == 1 else f"{', '.join(options[:-1])} or {options[-1]}"
