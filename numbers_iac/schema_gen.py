"""Generate the provider parts of `schemas/numbers.schema.json` from the provider registry.

The file stays the one editors point at and the loader validates against, and it is as strict
as the loader: no key the loader would refuse. Two parts are generated, from
`providers.registry` (the types, the settings every provider takes) and each adapter class:
`$defs.provider` (one closed set of settings per type, from its `settings_schema`) and the
provider options in `$defs.declaration` (every adapter's `declaration_options`: a declaration
names its provider account, not its type, so the schema lists every option and the loader
refuses one its provider does not take). Only the types this version ships are offered;
`PLANNED_TYPES` are refused by the loader with "not available in this version". The rest
(the declaration's common keys, state) is written by hand in the file. After changing a
provider's settings or options or the registry, run

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

from numbers_iac.config.checks import DECLARATION_OPTION_PREFIX, is_declaration_option
from numbers_iac.config.files import load_schema, schema_path
from numbers_iac.providers.registry import (
    COMMON_SETTINGS_SCHEMA,
    HTTP_SETTINGS_SCHEMA,
    LOCAL_TYPES,
    REGISTRY,
)

PROVIDER_DESCRIPTION = (
    "A provider account. `type` picks the adapter; the other keys are that provider's "
    "settings (credentials, base_url, ...), checked against the provider when the "
    "configuration is loaded."
)


def provider_schema() -> dict[str, Any]:
    """`$defs.provider`: the type and the settings every provider takes, then for each type
    a closed set: its own settings and the shared ones (`base_url` only for HTTP types)."""
    type_property = {
        "description": f"The provider: {_either(list(REGISTRY))}.",
        "enum": list(REGISTRY),
    }
    return {
        "description": PROVIDER_DESCRIPTION,
        "type": "object",
        "required": ["type"],
        "properties": {"type": type_property, **_plain(COMMON_SETTINGS_SCHEMA)},
        "allOf": [
            _settings_of(type_name, entry.settings_schema())
            for type_name, entry in REGISTRY.items()
        ],
    }


def declaration_schema(declaration: Mapping[str, Any]) -> dict[str, Any]:
    """`$defs.declaration` (written by hand: the keys every declaration takes) with every
    provider option added, each naming the types that take it, and nothing else allowed."""
    common = {
        key: value
        for key, value in declaration["properties"].items()
        if not is_declaration_option(value)
    }
    takers: dict[str, list[str]] = {}
    for type_name, entry in REGISTRY.items():
        for option in entry.adapter_class().declaration_options:
            takers.setdefault(option, []).append(type_name)
    options = {
        option: {
            "description": f"{DECLARATION_OPTION_PREFIX}: taken by {_either(types)} "
            "providers only (the others refuse it)."
        }
        for option, types in takers.items()
        if option not in common
    }
    return {
        **declaration,
        "properties": {**common, **options},
        "additionalProperties": False,
    }


def generated_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """`schema` (the whole configuration schema) with its provider parts generated."""
    definitions = schema["$defs"]
    return {
        **schema,
        "$defs": {
            **definitions,
            "provider": provider_schema(),
            "declaration": declaration_schema(definitions["declaration"]),
        },
    }


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
    """The settings a type takes, and no others, applied when `type` is `type_name`: `type`
    and the common settings (described once, at the top), `base_url` for a type that speaks
    HTTP, then its own. Each of its own descriptions is prefixed with the type, as an editor
    shows it without the surrounding `if`."""
    own = {
        key: {**_plain(value), "description": f"{type_name}: {value['description']}"}
        if "description" in value
        else _plain(value)
        for key, value in settings.items()
    }
    shared: dict[str, Any] = {key: {} for key in ("type", *COMMON_SETTINGS_SCHEMA)}
    if type_name not in LOCAL_TYPES:
        shared.update(_plain(HTTP_SETTINGS_SCHEMA))
    return {
        "if": {"properties": {"type": {"const": type_name}}, "required": ["type"]},
        "then": {"properties": {**shared, **own}, "additionalProperties": False},
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
