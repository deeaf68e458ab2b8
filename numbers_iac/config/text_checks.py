"""Control characters in what users write: refused, each with its location.

Declaration, provider and label names, label values, app names, regions, any text that can end
up in a plan, a pull-request comment or a state table: an ESC, CR or LF there could rewrite a
reviewer's terminal or forge Markdown (`numbers_iac.render.escape` escapes what providers
send; users are simply told). YAML itself refuses raw control characters, so these arrive
through escapes in double quotes ("\\e", "\\n") or from `${VAR}`. Secrets are skipped: they are
never printed, and a PEM key has newlines.
"""

from __future__ import annotations

from typing import Any

from numbers_iac.config.problems import FieldPath, Problems
from numbers_iac.config.secrets import is_secret_path
from numbers_iac.config.yaml_marks import Document
from numbers_iac.render.escape import describe_control, first_control


def check_control_characters(doc: Document, problems: Problems) -> None:
    """Add one problem per key or value holding a control character, and settle it so that
    later passes do not report the same value again in other words."""
    stack: list[tuple[FieldPath, Any]] = [((), doc.data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                child = (*path, key)
                char = first_control(key) if isinstance(key, str) else None
                if char is not None:
                    message = _message(_key_kind(path), char, child in doc.from_env)
                    problems.settle(doc.key_mark(child), child, message)
                stack.append((child, item))
        elif isinstance(value, list):
            stack.extend(((*path, index), item) for index, item in enumerate(value))
        elif isinstance(value, str) and not is_secret_path(path):
            char = first_control(value)
            if char is not None:
                message = _message(_value_kind(path), char, path in doc.from_env)
                problems.settle(doc.mark(path), path, message)


def has_control_character(text: Any) -> bool:
    return isinstance(text, str) and first_control(text) is not None


def _message(what: str, char: str, from_env: bool) -> str:
    source = " (read from the environment)" if from_env else ""
    return (
        f"{what}{source} contains the control character {describe_control(char)}: "
        "only printable text is allowed"
    )


def _key_kind(parent: FieldPath) -> str:
    if parent == ("numbers",):
        return "the declaration name"
    if parent == ("providers",):
        return "the provider name"
    if parent and parent[-1] == "labels":
        return "the label key"
    return "the key"


def _value_kind(path: FieldPath) -> str:
    if len(path) >= 2 and path[-2] == "labels":
        return "the label value"
    if path and (path[-1] == "app" or (len(path) >= 2 and path[-2] == "apps")):
        return "the app name"
    if path and path[-1] == "provider":
        return "the provider name"
    return "the value"
