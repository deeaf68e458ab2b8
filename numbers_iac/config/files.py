"""Which files the loader reads: the configuration (flag, environment, default) and the schema;
and `read_bounded`, the one way a file a user names is read (configurations, saved plans)."""

from __future__ import annotations

import importlib.resources
import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

CONFIG_ENV = "NUMBERS_IAC_CONFIG"
DEFAULT_CONFIG = "numbers.yaml"
SCHEMA_FILE = "numbers.schema.json"
#: 100,000 pinned numbers with labels take a few MB; `-c /dev/zero` must not fill the memory
MAX_CONFIG_BYTES = 16 * 1024 * 1024


class UnreadableConfigError(Exception):
    """The configuration file cannot be read; `str()` says why, for the person running it."""


class UnreadableFileError(Exception):
    """A file `read_bounded` refused or could not read. `problem` is one of "missing",
    "unreadable", "not-regular" or "too-large"; `detail` is the system's reason, the kind of
    file, or the limit; `str()` ends a sentence about the file ("is not a regular file (a
    directory)")."""

    def __init__(self, problem: str, detail: str = ""):
        sentence = {
            "missing": "does not exist",
            "unreadable": f"cannot be read: {detail}",
            "not-regular": f"is not a regular file ({detail})",
            "too-large": f"is larger than {detail}",
        }[problem]
        super().__init__(sentence)
        self.problem = problem
        self.detail = detail


def read_bounded(path: str | os.PathLike[str], limit: int) -> bytes:
    """The file's bytes, refusing what is not a regular file (a directory, a device such as
    /dev/zero, a named pipe that would block) and anything over `limit` bytes. Opened
    without blocking and checked on the open file, so a path swapped after a check cannot
    slip through; read no further than the limit, whatever the file's size claims."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise UnreadableFileError("missing") from None
    except OSError as exc:
        raise UnreadableFileError("unreadable", exc.strerror or str(exc)) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise UnreadableFileError("not-regular", _file_kind(mode))
    with os.fdopen(fd, "rb") as handle:
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            raise UnreadableFileError("unreadable", exc.strerror or str(exc)) from None
    if len(data) > limit:
        raise UnreadableFileError("too-large", _size(limit))
    return data


def read_config_bytes(path: Path) -> bytes:
    """The configuration's bytes, read by `read_bounded` up to `MAX_CONFIG_BYTES`."""
    try:
        return read_bounded(path, MAX_CONFIG_BYTES)
    except UnreadableFileError as exc:
        message = {
            "missing": "no such configuration file",
            "unreadable": f"cannot read the configuration file: {exc.detail}",
            "not-regular": f"not a regular file ({exc.detail}): the configuration must be a "
            "YAML file",
            "too-large": f"the file is larger than {exc.detail}, the most a configuration may "
            "be (100,000 pinned numbers take about 3 MB)",
        }[exc.problem]
        raise UnreadableConfigError(message) from None


def _size(limit: int) -> str:
    megabytes = limit / (1024 * 1024)
    return f"{megabytes:g} MB" if megabytes >= 1 else f"{limit:,} bytes"


def _file_kind(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "not a file")


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
