"""Which settings hold secrets: their values are never repeated in a message, whatever their
type (a token written as a YAML number is still a token), and never checked for control
characters (a PEM key has newlines, and a secret is never printed)."""

from __future__ import annotations

from numbers_iac.config.problems import FieldPath

#: a setting whose name contains one of these holds a secret (`auth_token`, `api_secret`,
#: `private_key`, `password`...); `dsn` is a connection string with a password in it
_SECRET_WORDS = (
    "token",
    "secret",
    "password",
    "passwd",
    "passphrase",
    "private_key",
    "api_key",
    "apikey",
    "credential",
    "dsn",
)


def is_secret_setting(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def is_secret_path(path: FieldPath) -> bool:
    """A provider setting named like a secret (or anything inside one), or `state.dsn`."""
    if len(path) >= 3 and path[0] == "providers" and isinstance(path[2], str):
        return is_secret_setting(path[2])
    return len(path) >= 2 and path[0] == "state" and path[1] == "dsn"
