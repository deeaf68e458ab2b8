"""Which files the loader reads: the configuration (flag, environment, default) and the schema."""

from __future__ import annotations

import importlib.resources
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

CONFIG_ENV = "NUMBERS_IAC_CONFIG"
DEFAULT_CONFIG = "numbers.yaml"
SCHEMA_FILE = "numbers.schema.json"


def config_path_from(option_value: str | None, environ: Mapping[str, str] | None = None) -> Path:
    """The configuration file to read: the `--config` value, else `$NUMBERS_IAC_CONFIG`, else
    `./numbers.yaml`. The path is returned as the user wrote it, so messages show it that way."""
    if option_value:
        return Path(option_value)
    environ = os.environ if environ is None else environ
    return Path(environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def schema_path() -> Path:
    """Where `numbers.schema.json` is: the repository's `schemas/` in a checkout, else the copy
    installed as package data (`numbers_iac/schemas` is a symlink to `../schemas`)."""
    repo_copy = Path(__file__).resolve().parents[2] / "schemas" / SCHEMA_FILE
    if repo_copy.is_file():
        return repo_copy
    return Path(str(importlib.resources.files("numbers_iac") / "schemas" / SCHEMA_FILE))


def load_schema() -> dict[str, Any]:
    """The configuration JSON Schema as a dict."""
    return json.loads(schema_path().read_text(encoding="utf-8"))
