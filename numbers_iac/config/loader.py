"""Read `numbers.yaml` into a validated `Desired`, reporting every problem with its location.

Three passes, each adding located `Problem`s rather than stopping at the first:

1. YAML is composed with line marks, duplicate keys are caught and `${VAR}` references are
   replaced from the environment, or left as placeholders where the command needs no value
   (`yaml_marks`); then control characters in names and text are refused (`text_checks`).
2. The JSON Schema (`schemas/numbers.schema.json`, the single source of what is structurally
   valid and the file editors point at) is applied and each error is worded for people and
   mapped back to its mark (`schema_errors`); what the checks say better (unknown keys, with
   the provider's own list; planned types) is left to them.
3. Semantic checks the schema cannot express build the `Desired` (`checks`).

Values read from the environment may be secrets: no message ever repeats one.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema

from numbers_iac.config.checks import Checker
from numbers_iac.config.files import UnreadableConfigError, load_schema, read_config_bytes
from numbers_iac.config.problems import FieldPath, Problems, dotted
from numbers_iac.config.schema_errors import explain_schema_error, reported_by_checks
from numbers_iac.config.text_checks import check_control_characters
from numbers_iac.config.yaml_marks import Document, read_yaml
from numbers_iac.errors import ConfigError, Problem
from numbers_iac.model import Desired


def load_config(
    path: str | Path,
    env: Mapping[str, str] | None = None,
    *,
    resolve_env: bool | Collection[str] = True,
    providers_on_use: bool = False,
) -> Desired:
    """Read, interpolate and validate a configuration file.

    `env` supplies `${VAR}` values (default: `os.environ`). `resolve_env` says which must be
    set: every one (True, for commands that call a provider), none (False, for `validate`,
    which must work in CI without secrets), or those in the named top-level sections
    (`{"state"}` for the state commands). An unset variable that need not be set stays as
    written, a placeholder: its type is checked (a variable is always text), its value is not,
    and it is never printed. Raises `ConfigError` carrying every problem found, each located
    by file, line, column and dotted field path.

    `providers_on_use` (with `resolve_env=True`) leaves the variables of `providers:` to the
    providers a command opens: `Desired.unresolved` holds each provider's unset ones, which
    `engine.Providers` reports when it is about to open that provider, so a missing token of
    one account does not stop an inventory or a targeted plan of another.
    """
    shown = str(path)
    absolute = Path(os.path.abspath(os.path.expanduser(path)))
    problems = Problems(shown)
    try:
        raw = read_config_bytes(absolute)
    except UnreadableConfigError as exc:
        problems.add(None, (), str(exc))
        raise ConfigError(problems.sorted()) from None

    on_use = providers_on_use and resolve_env is True
    deferrable = (lambda path: path[:1] == ("providers",)) if on_use else _deferrable(resolve_env)
    doc = read_yaml(raw, problems, os.environ if env is None else env, deferrable)
    if doc is None:
        raise ConfigError(problems.sorted())
    check_control_characters(doc, problems)
    schema = load_schema()
    for error in _Validator(schema).iter_errors(_schema_view(doc, schema)):
        if not reported_by_checks(error, doc):
            explain_schema_error(error, doc, problems)
    problems.settled |= doc.deferred  # a placeholder's value is unknown: nothing to check
    desired = Checker(doc, problems, schema, absolute).desired(hashlib.sha256(raw).hexdigest())
    said = {problem.path for problem in problems.items}
    for path, (mark, misread) in doc.misread.items():
        if dotted(path) in said:  # the schema or a check said it (an unknown key, a type)
            continue
        blind = doc.is_secret(path) or path[:1] == ("providers",)  # or a misspelt secret
        problems.add(mark, path, misread.unquoted if blind else misread.message)
    if problems.items:
        if on_use:  # the file needs an edit anyway: say everything in one run
            for unset in _unresolved(doc, shown).values():
                for problem in unset:
                    problems.add_located(problem)
        raise ConfigError(problems.sorted())
    assert desired is not None
    return replace(desired, unresolved=_unresolved(doc, shown)) if on_use else desired


def _is_whole_number(checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


#: JSON Schema counts 3.0 as an integer, but every count and limit in the file is read as a
#: whole number written as one: a 3.0 accepted here would be read as no value at all (the
#: default quantity, no guard rail), so it is refused with the schema's own errors
_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_whole_number),
)


def _unresolved(doc: Document, shown: str) -> dict[str, tuple[Problem, ...]]:
    """Each provider's unset variables, as the problems they would have been."""
    by_provider: dict[str, Problems] = {}
    for path, (mark, message) in doc.unset.items():
        if len(path) >= 2 and path[0] == "providers":
            by_provider.setdefault(str(path[1]), Problems(shown)).add(mark, path, message)
    return {name: tuple(found.sorted()) for name, found in by_provider.items()}


#: the schema of a pinned-number list when each item is checked alone (no count, no uniqueness)
_ITEMWISE_NUMBERS = {"type": "array", "items": {"type": "string", "minLength": 1}}


def _schema_view(doc: Document, schema: Mapping[str, Any]) -> Any:
    """The data the schema is applied to: as read, except that a pinned-number list whose
    every item is non-empty text keeps one item. While the schema checks those items one by
    one, the errors are the same, and 100,000 pinned numbers cost the validator half a
    second; the checks read every number anyway."""
    numbers_schema = dict(schema.get("$defs", {}).get("declaration", {}).get("properties", {}))
    numbers_schema = numbers_schema.get("numbers", {})
    shape = {k: v for k, v in numbers_schema.items() if k != "description"}
    declarations = doc.data.get("numbers") if isinstance(doc.data, dict) else None
    if shape != _ITEMWISE_NUMBERS or not isinstance(declarations, dict):
        return doc.data
    thinned = {}
    for name, raw in declarations.items():
        pinned = raw.get("numbers") if isinstance(raw, dict) else None
        if isinstance(pinned, list) and len(pinned) > 1 and _all_text(pinned):
            raw = {**raw, "numbers": pinned[:1]}
        thinned[name] = raw
    return {**doc.data, "numbers": thinned}


def _all_text(items: list[Any]) -> bool:
    return all(isinstance(item, str) and item for item in items)


def _deferrable(resolve_env: bool | Collection[str]) -> Callable[[FieldPath], bool]:
    """Whether an unset variable at a path may stay a placeholder (`version` never: it is
    the constant 1, which a placeholder can never stand for)."""
    if resolve_env is True:
        return lambda path: False
    if resolve_env is False:
        return lambda path: path[:1] != ("version",)
    required = frozenset(resolve_env)
    return lambda path: path[:1] != ("version",) and (not path or path[0] not in required)
