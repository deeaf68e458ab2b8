"""The configuration: `numbers.yaml` read into a validated `Desired`.

- `yaml_marks`: YAML with line marks and `${VAR}` interpolation,
- `schema_errors`: JSON Schema errors worded for people,
- `checks`: the semantic checks that build `Desired`,
- `files`: which configuration file and schema to read, and `read_bounded` to read them,
- `loader`: `load_config`, the three passes in order.
"""

from __future__ import annotations

from numbers_iac.config.checks import DEFAULT_NUMBER_TYPE, DEFAULT_STATE_PATH
from numbers_iac.config.files import (
    CONFIG_ENV,
    DEFAULT_CONFIG,
    MAX_CONFIG_BYTES,
    SCHEMA_FILE,
    config_path_from,
    load_schema,
    schema_path,
)
from numbers_iac.config.loader import load_config
from numbers_iac.config.yaml_marks import MAX_EXPANDED_NODES, MAX_NESTING

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG",
    "DEFAULT_NUMBER_TYPE",
    "DEFAULT_STATE_PATH",
    "MAX_CONFIG_BYTES",
    "MAX_EXPANDED_NODES",
    "MAX_NESTING",
    "SCHEMA_FILE",
    "config_path_from",
    "load_config",
    "load_schema",
    "schema_path",
]
