"""Generate the provider part of `schemas/numbers.schema.json` from the provider registry.

The file stays the one editors point at and the loader validates against; only its
`$defs.provider` is generated, from `providers.registry` (the types, the settings every
provider takes) and each adapter's `settings_schema`. The rest (declarations, state) is
written by hand in the file. After changing a provider's settings or the registry, run

    python -m numbers_iac.schema_gen           # rewrite the file
    python -m numbers_iac.schema_gen --check   # exit 1 if the file is out of date

`tests/test_schema_gen.py` fails while the committed file differs from what this writes.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from numbers_iac.config.files import load_schema, schema_path
from numbers_iac.providers.registry import (
    COMMON_SETTINGS_SCHEMA,
    HTTP_SETTINGS_SCHEMA,
    PLANNED_TYPES,
    REGISTRY,
)

PROVIDER_DESCRIPTION = (
    "A provider account. `type` picks the adapter; the other keys are that provider's "
    "settings (credentials, base_url, ...), checked against the provider when the "
    "configuration is loaded."
)


def provider_schema() -> dict[str, Any]:
    """`$defs.provider`: the type, the settings every provider takes, then each type's own."""
    types = [*REGISTRY, *PLANNED_TYPES]
    shipped = _either(list(REGISTRY))
    planned = ", ".join(PLANNED_TYPES)
    type_property = {
        "description": f"The provider: {shipped}. Planned, not available in this version yet: {planned}.",
        "enum": types,
    }
    return {
        "description": PROVIDER_DESCRIPTION,
        "type": "object",
        "required": ["type"],
        "properties": {
            "type": type_property,
            **_plain(HTTP_SETTINGS_SCHEMA),
            **_plain(COMMON_SETTINGS_SCHEMA),
        },
        "additionalProperties": True,
        "allOf": [
            _settings_of(type_name, entry.settings_schema())
            for type_name, entry in REGISTRY.items()
        ],
    }


def generated_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """`schema` (the whole configuration schema) with its provider part generated."""
    return {**schema, "$defs": {**schema["$defs"], "provider": provider_schema()}}


def render(schema: Mapping[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m numbers_iac.schema_gen", description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the file differs, write nothing"
    )
    args = parser.parse_args(argv)
    path: Path = schema_path()
    text = render(generated_schema(load_schema()))
    if path.read_text(encoding="utf-8") == text:
        return 0
    if args.check:
        print(f"{path} is out of date: run python -m numbers_iac.schema_gen", file=sys.stderr)
        return 1
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")
    return 0


def _settings_of(type_name: str, settings: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The type's own settings, applied when `type` is `type_name`. Each description is
    prefixed with the type, as an editor shows it without the surrounding `if`."""
    properties = {
        key: {**_plain(value), "description": f"{type_name}: {value['description']}"}
        if "description" in value
        else _plain(value)
        for key, value in settings.items()
    }
    return {
        "if": {"properties": {"type": {"const": type_name}}, "required": ["type"]},
        "then": {"properties": properties},
    }


def _plain(value: Any) -> Any:
    """A JSON-ready copy: mappings as dicts, tuples as lists."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


if __name__ == "__main__":
    sys.exit(main())
