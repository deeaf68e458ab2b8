"""Read `numbers.yaml` into a validated `Desired`, reporting every problem with its location.

Three passes, each adding located `Problem`s rather than stopping at the first:

1. YAML is composed into a node tree (not constructed) so every value keeps its line and
   column; duplicate keys, which PyYAML silently accepts, are reported here, and `${VAR}`
   references are replaced from the environment.
2. The JSON Schema (`schemas/numbers.schema.json`, the single source of what is structurally
   valid and the file editors point at) is applied and each error is mapped back to its mark.
3. Semantic checks the schema cannot express: pinned numbers, cross references between
   declarations and providers, and what each provider's class says it supports.

Values read from the environment may be secrets: no message ever repeats one.
"""

from __future__ import annotations

import datetime
import difflib
import hashlib
import importlib.resources
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import phonenumbers
import yaml

from numbers_iac.errors import ConfigError, Problem
from numbers_iac.model import (
    NUMBER_TYPES,
    Declaration,
    Desired,
    ProviderConfig,
    SourceRef,
    StateConfig,
)
from numbers_iac.providers import PROVIDER_TYPES, provider_class
from numbers_iac.providers.base import Provider

CONFIG_ENV = "NUMBERS_IAC_CONFIG"
DEFAULT_CONFIG = "numbers.yaml"
DEFAULT_STATE_PATH = ".numbers-iac/state.sqlite"
SCHEMA_FILE = "numbers.schema.json"
DEFAULT_NUMBER_TYPE = "local"

#: providers that talk to no HTTP API and so take no `base_url`
_LOCAL_PROVIDER_TYPES = frozenset({"sandbox"})

FieldPath = tuple[str | int, ...]


# --------------------------------------------------------------------------- public helpers


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
    repo_copy = Path(__file__).resolve().parent.parent / "schemas" / SCHEMA_FILE
    if repo_copy.is_file():
        return repo_copy
    return Path(str(importlib.resources.files("numbers_iac") / "schemas" / SCHEMA_FILE))


def load_schema() -> dict[str, Any]:
    """The configuration JSON Schema as a dict."""
    return json.loads(schema_path().read_text(encoding="utf-8"))


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Desired:
    """Read, interpolate and validate a configuration file.

    `env` supplies `${VAR}` values (default: `os.environ`). Raises `ConfigError` carrying every
    problem found, each located by file, line, column and dotted field path.
    """
    shown = str(path)
    absolute = Path(os.path.abspath(os.path.expanduser(path)))
    try:
        raw = absolute.read_bytes()
    except FileNotFoundError:
        raise ConfigError([Problem(shown, None, None, "", "no such configuration file")]) from None
    except OSError as exc:
        message = f"cannot read the configuration file: {exc.strerror or exc}"
        raise ConfigError([Problem(shown, None, None, "", message)]) from None

    problems = _Problems(shown)
    doc = _read_yaml(raw, problems, os.environ if env is None else env)
    if doc is None:
        raise ConfigError(problems.sorted())
    schema = load_schema()
    for error in jsonschema.Draft202012Validator(schema).iter_errors(doc.data):
        _explain_schema_error(error, doc, problems)
    desired = _Checker(doc, problems, schema, absolute).desired(hashlib.sha256(raw).hexdigest())
    if problems.items:
        raise ConfigError(problems.sorted())
    assert desired is not None
    return desired


# --------------------------------------------------------------------------- located problems


def _dotted(path: FieldPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class _Problems:
    """Collects problems for one file; marks are PyYAML's 0-based, problems 1-based."""

    def __init__(self, file: str):
        self.file = file
        self.items: list[Problem] = []
        #: values whose problem was reported at its cause (a missing variable): later checks
        #: of the same value would only repeat it in other words
        self.settled: set[FieldPath] = set()

    def settle(self, mark: yaml.Mark | None, path: FieldPath, message: str) -> None:
        """Report a problem and silence any later one about the same value."""
        self.add(mark, path, message)
        self.settled.add(path)

    def add(self, mark: yaml.Mark | None, path: FieldPath, message: str) -> None:
        if path in self.settled:
            return
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        problem = Problem(self.file, line, column, _dotted(path), message)
        if problem not in self.items:
            self.items.append(problem)

    def sorted(self) -> list[Problem]:
        return sorted(self.items, key=lambda p: (p.line is not None, p.line or 0, p.column or 0))


# --------------------------------------------------------------------------- YAML with marks


class _Loader(yaml.SafeLoader):
    """A SafeLoader used only to compose nodes and build scalars; mappings and sequences are
    built by `_Reader` so that each value keeps its mark and duplicate keys are caught."""


@dataclass
class _Document:
    """The plain data plus, for every path in it, where its value and its key were written."""

    data: Any
    value_marks: dict[FieldPath, yaml.Mark] = field(default_factory=dict)
    key_marks: dict[FieldPath, yaml.Mark] = field(default_factory=dict)
    #: scalars as written, for hints such as `NO` read as false
    texts: dict[FieldPath, str] = field(default_factory=dict)
    #: paths whose value came (partly) from the environment: never echo them
    from_env: set[FieldPath] = field(default_factory=set)

    def mark(self, path: FieldPath) -> yaml.Mark | None:
        """The mark of the value at `path`, or of its nearest written ancestor."""
        while path:
            if path in self.value_marks:
                return self.value_marks[path]
            path = path[:-1]
        return self.value_marks.get(())

    def key_mark(self, path: FieldPath) -> yaml.Mark | None:
        return self.key_marks.get(path) or self.mark(path)

    def source(self, path: FieldPath, file: str) -> SourceRef | None:
        mark = self.key_mark(path)
        return SourceRef(file, mark.line + 1, mark.column + 1) if mark else None


#: a configuration of 100,000 numbers stays far below this; alias bombs go far above it
MAX_EXPANDED_NODES = 1_000_000


def _expanded_size(root: yaml.Node) -> int:
    """How many nodes the document has once aliases are expanded, without expanding them:
    aliases reuse node objects, so sizes are memoised per object (an anchored node must be
    complete before an alias can name it, so the graph is acyclic)."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if isinstance(node, yaml.ScalarNode):
            sizes[id(node)] = 1
            continue
        children = (
            [c for pair in node.value for c in pair]
            if isinstance(node, yaml.MappingNode)
            else list(node.value)
        )
        if children_done:
            sizes[id(node)] = min(
                1 + sum(sizes.get(id(c), 0) for c in children), MAX_EXPANDED_NODES + 1
            )
            continue
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(root)]


def _read_yaml(raw: bytes, problems: _Problems, env: Mapping[str, str]) -> _Document | None:
    """Compose the file and build its data; None when there is nothing to validate."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.add(None, (), f"the file is not UTF-8 text (byte {exc.start})")
        return None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        problems.add(_yaml_error_mark(exc), (), _yaml_error_text(exc))
        return None
    except yaml.YAMLError as exc:
        problems.add(None, (), f"invalid YAML: {exc}")
        return None
    if node is None:
        problems.add(
            None, (), "the file is empty: expected a mapping with version, providers and numbers"
        )
        return None
    if _expanded_size(node) > MAX_EXPANDED_NODES:
        problems.add(
            None,
            (),
            f"YAML aliases expand to more than {MAX_EXPANDED_NODES:,} values; refusing to read "
            "the file (an alias bomb?)",
        )
        return None
    if not isinstance(node, yaml.MappingNode):
        found = "a list" if isinstance(node, yaml.SequenceNode) else "a single value"
        message = (
            f"the top level must be a mapping with version, providers and numbers, not {found}"
        )
        problems.add(node.start_mark, (), message)
        return None
    doc = _Document(data=None)
    doc.value_marks[()] = node.start_mark
    try:
        doc.data = _Reader(loader, env, problems, doc).value(node, ())
    finally:
        loader.dispose()
    return doc


def _runs_off_the_end(exc: yaml.MarkedYAMLError) -> bool:
    return exc.context_mark is not None and "<stream end>" in (exc.problem or "")


def _yaml_error_mark(exc: yaml.MarkedYAMLError) -> yaml.Mark | None:
    """Where to point: an unclosed bracket or quote is found at the end of the file, but the
    user needs to see where it was opened."""
    if _runs_off_the_end(exc):
        return exc.context_mark
    return exc.problem_mark or exc.context_mark


def _yaml_error_text(exc: yaml.MarkedYAMLError) -> str:
    problem = exc.problem or "syntax error"
    if _runs_off_the_end(exc):
        opened = (exc.context or "").removeprefix("while parsing ").removeprefix("while scanning ")
        return (
            f"invalid YAML: {opened or 'this'} is not closed before the end of the file ({problem})"
        )
    message = f"invalid YAML: {problem}"
    if exc.context and exc.context_mark and exc.context_mark != exc.problem_mark:
        message += f" ({exc.context} started at line {exc.context_mark.line + 1})"
    return message


_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _Reader:
    """Turns composed nodes into plain data, recording marks and interpolating `${VAR}`."""

    def __init__(
        self, loader: _Loader, env: Mapping[str, str], problems: _Problems, doc: _Document
    ):
        self.loader = loader
        self.env = env
        self.problems = problems
        self.doc = doc

    def value(self, node: yaml.Node, path: FieldPath) -> Any:
        self.doc.value_marks[path] = node.start_mark
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.value(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.scalar(node, path)

    def mapping(self, node: yaml.MappingNode, path: FieldPath) -> dict[str, Any]:
        written = [(k, v) for k, v in node.value if k.tag != _MERGE_TAG]
        try:
            self.loader.flatten_mapping(node)
        except yaml.MarkedYAMLError as exc:
            self.problems.add(exc.problem_mark, path, _yaml_error_text(exc))
        merged = (
            node.value[: len(node.value) - len(written)] if len(node.value) > len(written) else []
        )
        out: dict[str, Any] = {}
        for key_node, value_node in merged:  # `<<: *anchor` keys: written ones override them
            if isinstance(key_node, yaml.ScalarNode):
                out[key_node.value] = self.entry(key_node, value_node, path)
        first_seen: dict[str, yaml.Mark] = {}
        for key_node, value_node in written:
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.add(
                    key_node.start_mark, path, "keys must be plain text, not a list or mapping"
                )
                continue
            key = key_node.value
            if key in first_seen:
                message = (
                    f"duplicate key '{key}' (first written at line {first_seen[key].line + 1})"
                )
                self.problems.add(key_node.start_mark, path, message)
                continue
            first_seen[key] = key_node.start_mark
            out[key] = self.entry(key_node, value_node, path)
        return out

    def entry(self, key_node: yaml.ScalarNode, value_node: yaml.Node, path: FieldPath) -> Any:
        child = (*path, key_node.value)
        self.doc.key_marks[child] = key_node.start_mark
        return self.value(value_node, child)

    def scalar(self, node: yaml.ScalarNode, path: FieldPath) -> Any:
        self.doc.texts[path] = node.value
        try:
            value = self.loader.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            self.problems.add(node.start_mark, path, f"cannot read this value: {exc.problem}")
            return None
        if node.tag == _STR_TAG and isinstance(value, str) and "${" in value:
            return self.interpolate(value, node.start_mark, path)
        return value

    def interpolate(self, text: str, mark: yaml.Mark, path: FieldPath) -> str:
        """Replace `${VAR}` and `${VAR:-default}`; `$${` stays a literal `${`. Like the shell,
        the default also applies when the variable is set but empty."""

        def replace(match: re.Match[str]) -> str:
            whole = match.group(0)
            if whole == "$${":
                return "${"
            if match.group(1) is None:
                self.problems.settle(
                    mark, path, "'${' is not closed by '}' (write '$${' for a literal '${')"
                )
                return whole
            name, has_default, default = match.group(1).partition(":-")
            if not _VARIABLE.fullmatch(name):
                self.problems.settle(
                    mark,
                    path,
                    f"'{whole}' is not a valid variable reference (expected ${{NAME}} or ${{NAME:-default}})",
                )
                return whole
            self.doc.from_env.add(path)
            value = self.env.get(name)
            if value:
                return value
            if has_default:
                return default
            if value is None:
                self.problems.settle(
                    mark,
                    path,
                    f"environment variable {name} is not set (write ${{{name}:-default}} to give a default)",
                )
            return ""

        return _REFERENCE.sub(replace, text)


# --------------------------------------------------------------------------- schema errors

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
}


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


def _shown(value: Any, doc: _Document, path: FieldPath) -> str:
    """A value for a message, or a stand-in when it came from the environment."""
    return "the value read from the environment" if path in doc.from_env else repr(value)


def _explain_schema_error(
    error: jsonschema.ValidationError, doc: _Document, problems: _Problems
) -> None:
    path: FieldPath = tuple(error.absolute_path)
    kind = error.validator
    if "propertyNames" in error.relative_schema_path or "propertyNames" in error.schema_path:
        key_path = (*path, error.instance)
        rule = error.schema.get("description", "") if isinstance(error.schema, Mapping) else ""
        what = "label key" if path and path[-1] == "labels" else "name"
        problems.add(
            doc.key_mark(key_path), path, f"'{error.instance}' is not a valid {what}: {rule}"
        )
    elif kind == "required":
        for key in error.validator_value:
            if isinstance(error.instance, Mapping) and key not in error.instance:
                problems.add(doc.mark(path), path, _missing_key_text(key, error.instance))
    elif kind == "additionalProperties":
        known = list(error.schema.get("properties", {}))
        for key in error.instance:
            if key not in known:
                where = "top-level key" if not path else "key"
                problems.add(
                    doc.key_mark((*path, key)),
                    path,
                    f"unknown {where} '{key}'{_did_you_mean(key, known)}",
                )
    else:
        problems.add(doc.mark(path), path, _value_error_text(error, doc, path))


def _missing_key_text(key: str, instance: Mapping[str, Any]) -> str:
    if key == "dsn" and instance.get("backend") == "postgres":
        return "missing required key 'dsn' (backend postgres needs a connection string)"
    return f"missing required key '{key}'"


def _value_error_text(error: jsonschema.ValidationError, doc: _Document, path: FieldPath) -> str:
    kind, value, expected = error.validator, error.instance, error.validator_value
    shown = _shown(value, doc, path)
    if kind == "enum":
        return f"{shown} is not one of {', '.join(str(v) for v in expected)}"
    if kind == "const":
        return f"{shown} is not supported: expected {expected!r}"
    if kind == "type":
        return _type_error_text(value, expected, doc.texts.get(path))
    if kind == "minimum":
        return f"{shown} is too small: the minimum is {expected}"
    if kind == "maximum":
        return f"{shown} is too large: the maximum is {expected}"
    if kind == "minLength":
        return "must not be empty"
    if kind == "pattern":
        name = next((p for p in reversed(path) if isinstance(p, str)), "")
        return f"{shown}: {_PATTERN_HINTS.get(name, 'does not match ' + expected)}"
    if kind == "uniqueItems":
        return "lists the same item more than once"
    if path in doc.from_env:
        return f"the value read from the environment is invalid ({kind})"
    return error.message


def _type_error_text(value: Any, expected: str | list[str], written: str | None) -> str:
    names = [expected] if isinstance(expected, str) else list(expected)
    wanted = _either([_TYPE_NAMES.get(n, n) for n in names])
    message = f"expected {wanted}, got {_kind_of(value)}"
    if "string" in names and written is not None and not isinstance(value, (list, Mapping)):
        message += f' (write "{written}" in quotes to keep it as text)'
    return message


def _either(options: list[str]) -> str:
    return options[0] if len(options) == 1 else f"{', '.join(options[:-1])} or {options[-1]}"


def _did_you_mean(key: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(key, candidates, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


# --------------------------------------------------------------------------- semantic checks


@dataclass
class _ProviderInfo:
    """What the checks need to know about one entry under `providers:`."""

    name: str
    type: str | None
    cls: type[Provider] | None = None  # None when the type is unknown or cannot be imported
    apps: tuple[str, ...] | None = None  # apps listed in the config, None: listed by the API


class _Checker:
    """The checks a schema cannot express, and the construction of `Desired`."""

    def __init__(self, doc: _Document, problems: _Problems, schema: Mapping[str, Any], path: Path):
        self.doc = doc
        self.problems = problems
        self.path = path
        self.base_dir = str(path.parent)
        self.common_keys = tuple(schema["$defs"]["declaration"]["properties"])
        self.known_types = tuple(schema["$defs"]["provider"]["properties"]["type"]["enum"])
        self.pinned_by: dict[str, tuple[str, FieldPath]] = {}

    def add(self, path: FieldPath, message: str, *, at_key: bool = False) -> None:
        mark = self.doc.key_mark(path) if at_key else self.doc.mark(path)
        self.problems.add(mark, path, message)

    def source(self, path: FieldPath) -> SourceRef | None:
        return self.doc.source(path, self.problems.file)

    def shown(self, value: Any, path: FieldPath, candidates: Sequence[str] = ()) -> tuple[str, str]:
        """A value for a message and a "did you mean" for it, or a stand-in and no suggestion
        when it came from the environment."""
        if path in self.doc.from_env:
            return _shown(value, self.doc, path), ""
        return repr(value), _did_you_mean(str(value), list(candidates))

    def desired(self, digest: str) -> Desired | None:
        data = self.doc.data
        providers_raw = _mapping(data.get("providers"))
        infos = {name: self.provider_info(name, raw) for name, raw in providers_raw.items()}
        providers = {
            name: self.provider_config(name, raw, infos[name])
            for name, raw in providers_raw.items()
        }
        declarations = {
            name: self.declaration(name, _mapping(raw), infos)
            for name, raw in _mapping(data.get("numbers")).items()
        }
        state = self.state(_mapping(data.get("state")))
        if self.problems.items:
            return None
        return Desired(str(self.path), digest, providers, declarations, state)

    # ----------------------------------------------------------------- providers

    def provider_info(self, name: str, raw: Any) -> _ProviderInfo:
        raw = _mapping(raw)
        type_name = raw.get("type") if isinstance(raw.get("type"), str) else None
        apps = raw.get("apps")
        listed = tuple(a for a in apps if isinstance(a, str)) if isinstance(apps, list) else None
        info = _ProviderInfo(name, type_name, apps=listed)
        if type_name is not None:
            info.cls = self.provider_class(type_name, ("providers", name, "type"))
        return info

    def provider_class(self, type_name: str, path: FieldPath) -> type[Provider] | None:
        if type_name not in PROVIDER_TYPES:
            if type_name in self.known_types:  # listed in the schema, adapter not shipped yet
                available = ", ".join(sorted(PROVIDER_TYPES))
                self.add(
                    path,
                    f"provider type '{type_name}' is not available in this version of numbers-iac (available: {available})",
                )
            return None
        try:
            return provider_class(type_name)
        except ImportError:  # an adapter that cannot load: its checks happen when it is used
            return None

    def provider_config(self, name: str, raw: Any, info: _ProviderInfo) -> ProviderConfig:
        raw = _mapping(raw)
        if info.cls is not None:
            allowed = ["type", *info.cls.settings_keys]
            if info.type not in _LOCAL_PROVIDER_TYPES:
                allowed.append("base_url")
            for key in raw:
                if key not in allowed:
                    accepted = ", ".join(sorted(set(allowed) - {"type"})) or "none"
                    message = f"unknown setting '{key}' for a {info.type} provider{_did_you_mean(key, allowed)} (accepted: {accepted})"
                    self.add(("providers", name, key), message, at_key=True)
        settings = {k: v for k, v in raw.items() if k != "type"}
        source = self.source(("providers", name))
        return ProviderConfig(name, info.type or "", settings, source, self.base_dir)

    # ----------------------------------------------------------------- declarations

    def declaration(
        self, name: str, raw: dict[str, Any], infos: Mapping[str, _ProviderInfo]
    ) -> Declaration:
        at: FieldPath = ("numbers", name)
        info = self.declared_provider(at, raw, infos)
        pinned, country = self.pinned_numbers(at, raw)
        number_type = _text(raw.get("type")) or DEFAULT_NUMBER_TYPE
        pinned_count = len(_list(raw.get("numbers")))
        quantity = self.quantity(at, raw.get("quantity"), pinned_count)
        buys = quantity > pinned_count
        if buys and not country and "country" not in raw:
            extra = (
                f"{quantity - pinned_count} more than the pinned numbers"
                if pinned_count
                else "numbers"
            )
            self.add(at, f"buying {extra} needs a country (e.g. country: FR)", at_key=True)
        if "region" in raw and "prefix" in raw:
            self.add((*at, "prefix"), "give region or prefix, not both", at_key=True)
        if info is not None:
            self.app(at, raw.get("app"), info)
        if info is not None and info.cls is not None:
            self.against_provider(at, raw, info, number_type if ("type" in raw or buys) else None)
        options = {k: v for k, v in raw.items() if k not in self.common_keys}
        return Declaration(
            name=name,
            provider=_text(raw.get("provider")) or "",
            quantity=quantity,
            country=country,
            number_type=number_type,
            region=_text(raw.get("region")),
            prefix=_text(raw.get("prefix")),
            capabilities=tuple(c for c in _list(raw.get("capabilities")) if isinstance(c, str)),
            pinned=tuple(pinned),
            app=_text(raw.get("app")),
            labels=_labels(raw.get("labels")),
            protect=raw.get("protect") is True,
            options=options,
            source=self.source(at),
            field_sources=self.field_sources(at, raw),
        )

    def quantity(self, at: FieldPath, written: Any, pinned_count: int) -> int:
        """The total wanted: as written, else the pinned count, else 1."""
        if not isinstance(written, int) or isinstance(written, bool):
            return pinned_count or 1  # not written, or the schema reported it
        if 0 <= written < pinned_count:
            message = f"quantity {written} is lower than the {pinned_count} pinned numbers"
            self.add((*at, "quantity"), message)
        return written

    def declared_provider(
        self, at: FieldPath, raw: Mapping[str, Any], infos: Mapping[str, _ProviderInfo]
    ) -> _ProviderInfo | None:
        name = raw.get("provider")
        if not isinstance(name, str):
            return None
        if name not in infos:
            defined = ", ".join(sorted(infos)) or "none"
            shown, hint = self.shown(name, (*at, "provider"), list(infos))
            message = f"unknown provider {shown}{hint} (defined under providers: {defined})"
            self.add((*at, "provider"), message)
            return None
        return infos[name]

    def app(self, at: FieldPath, app: Any, info: _ProviderInfo) -> None:
        """Apps listed in the configuration are checked here; apps that exist only in the
        provider's API are checked at plan time, when the account is listed."""
        if not isinstance(app, str):
            return
        described = f"provider '{info.name}' ({info.type})"
        if info.cls is not None and not info.cls.capabilities.apps:
            self.add((*at, "app"), f"{described} has no app binding: remove app")
        elif info.apps is not None and app not in info.apps:
            listed = ", ".join(info.apps) or "none"
            shown, hint = self.shown(app, (*at, "app"), info.apps)
            message = f"app {shown} is not one of the apps of {described}: {listed}{hint}"
            self.add((*at, "app"), message)

    def against_provider(
        self, at: FieldPath, raw: Mapping[str, Any], info: _ProviderInfo, number_type: str | None
    ) -> None:
        """Checks that depend on what the provider's class says it supports."""
        caps = info.cls.capabilities
        described = f"provider '{info.name}' ({info.type})"
        if number_type in NUMBER_TYPES and number_type not in caps.number_types:
            sells = ", ".join(caps.number_types)
            self.add(
                (*at, "type"),
                f"{described} does not sell {number_type} numbers (it sells: {sells})",
            )
        if "region" in raw and not caps.region_filter:
            self.add(
                (*at, "region"), f"{described} cannot search by region: use prefix", at_key=True
            )
        if "prefix" in raw and not caps.prefix_filter:
            self.add(
                (*at, "prefix"), f"{described} cannot search by prefix: use region", at_key=True
            )
        labels = raw.get("labels")
        if (
            caps.max_labels is not None
            and isinstance(labels, Mapping)
            and len(labels) > caps.max_labels
        ):
            self.add(
                (*at, "labels"),
                f"{described} stores at most {caps.max_labels} labels, {len(labels)} given",
                at_key=True,
            )
        allowed = [*self.common_keys, *info.cls.declaration_options]
        for key in raw:
            if key not in allowed:
                options = ", ".join(info.cls.declaration_options) or "none"
                message = f"unknown key '{key}'{_did_you_mean(key, allowed)} ({info.type} options: {options})"
                self.add((*at, key), message, at_key=True)

    def pinned_numbers(self, at: FieldPath, raw: Mapping[str, Any]) -> tuple[list[str], str | None]:
        """Normalise pinned numbers to E.164 and settle the declaration's country."""
        country = raw.get("country").upper() if isinstance(raw.get("country"), str) else None
        if country and country not in phonenumbers.SUPPORTED_REGIONS:
            shown, _ = self.shown(raw["country"], (*at, "country"))
            self.add((*at, "country"), f"{shown} is not a country code phonenumbers knows")
            country = None
        pinned: list[str] = []
        regions: dict[str, None] = {}
        for index, text in enumerate(_list(raw.get("numbers"))):
            if not isinstance(text, str):
                continue
            parsed = self.parse_number(at, index, text, country)
            if parsed is None:
                continue
            e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
            regions[phonenumbers.region_code_for_number(parsed)] = None
            self.claim(at, index, e164, pinned)
        if country is None and len(regions) > 1:
            self.add(
                (*at, "numbers"),
                f"pinned numbers belong to different countries ({', '.join(regions)}): set country or split the declaration",
            )
        elif country is None and regions and "country" not in raw:
            country = next(iter(regions))
        return pinned, country

    def parse_number(self, at: FieldPath, index: int, text: str, country: str | None) -> Any:
        path = (*at, "numbers", index)
        shown = _shown(text, self.doc, path)
        try:
            parsed = phonenumbers.parse(text, country)
        except phonenumbers.NumberParseException:
            hint = "" if country else " (write it with its +country code, or set country)"
            self.add(path, f"{shown} is not a phone number{hint}")
            return None
        if not phonenumbers.is_valid_number(parsed):
            self.add(path, f"{shown} is not a valid phone number")
            return None
        if country and not phonenumbers.is_valid_number_for_region(parsed, country):
            region = phonenumbers.region_code_for_number(parsed)
            self.add(
                path, f"{shown} is a {region} number, but the declaration's country is {country}"
            )
            return None
        return parsed

    def claim(self, at: FieldPath, index: int, e164: str, pinned: list[str]) -> None:
        """Record a pinned number, reporting one pinned twice (here or in another declaration)."""
        path = (*at, "numbers", index)
        name = str(at[1])
        if e164 in self.pinned_by:
            other, other_path = self.pinned_by[e164]
            mark = self.doc.mark(other_path)
            line = f" at line {mark.line + 1}" if mark else ""
            secret = path in self.doc.from_env or other_path in self.doc.from_env
            number = "this number (read from the environment)" if secret else e164
            if other == name:
                self.add(path, f"{number} is listed twice in this declaration (first{line})")
            else:
                self.add(
                    path,
                    f"{number} is pinned by both '{other}'{line} and '{name}': a number belongs to one declaration",
                )
            return
        self.pinned_by[e164] = (name, path)
        pinned.append(e164)

    def field_sources(self, at: FieldPath, raw: Mapping[str, Any]) -> dict[str, SourceRef]:
        """Where each written field is, by YAML key and by `Declaration` field name."""
        sources: dict[str, SourceRef] = {}
        aliases = {"numbers": "pinned", "type": "number_type"}
        for key in raw:
            source = self.source((*at, key))
            if source is None:
                continue
            sources[key] = source
            if key in aliases:
                sources[aliases[key]] = source
        for index, _ in enumerate(_list(raw.get("numbers"))):
            item = self.doc.mark((*at, "numbers", index))
            if item is not None:
                sources[f"numbers[{index}]"] = SourceRef(
                    self.problems.file, item.line + 1, item.column + 1
                )
        return sources

    # ----------------------------------------------------------------- state

    def state(self, raw: Mapping[str, Any]) -> StateConfig:
        backend = raw.get("backend", "sqlite")
        if backend == "postgres":
            if "path" in raw:
                self.add(
                    ("state", "path"),
                    "path applies to the sqlite backend only; postgres uses dsn",
                    at_key=True,
                )
            return StateConfig("postgres", None, _text(raw.get("dsn")))
        if "dsn" in raw:
            self.add(
                ("state", "dsn"),
                "dsn applies to the postgres backend only; sqlite uses path",
                at_key=True,
            )
        written = _text(raw.get("path")) or DEFAULT_STATE_PATH
        path = os.path.abspath(os.path.join(self.base_dir, os.path.expanduser(written)))
        return StateConfig("sqlite", path, None)


# --------------------------------------------------------------------------- small readers


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _labels(value: Any) -> dict[str, str]:
    """Labels as plain text: YAML `4711` and `true` become "4711" and "true"."""
    labels: dict[str, str] = {}
    for key, item in _mapping(value).items():
        if isinstance(item, bool):
            labels[key] = "true" if item else "false"
        elif isinstance(item, str | int | float):
            labels[key] = str(item)
    return labels
