"""State backends. `open_store` picks one from the configuration's `state:` block."""

from __future__ import annotations

from numbers_iac.errors import StateError
from numbers_iac.model import StateConfig
from numbers_iac.state.base import StateStore


def open_store(config: StateConfig) -> StateStore:
    """Open (and create or migrate on first use) the configured state store."""
    if config.backend == "sqlite":
        from numbers_iac.state.sqlite import SqliteStateStore

        if not config.path:
            raise StateError("state.path is not set for the sqlite backend")
        return SqliteStateStore(config.path)
    if config.backend == "postgres":
        from numbers_iac.state.postgres import PostgresStateStore

        if not config.dsn:
            raise StateError("state.dsn is not set for the postgres backend")
        return PostgresStateStore(config.dsn)
    raise StateError(
        f"state backend {config.backend!r} is not available in this version "
        "(supported: sqlite, postgres)"
    )
