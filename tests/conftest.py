"""Fixtures shared across the suite: a throwaway PostgreSQL (`pg_server`, `pg_dsn`) and the
state store of each backend in turn (`backend`, `open_store`, `store`); see tests/pg.py."""

from tests.pg import backend, open_store, pg_dsn, pg_server, store  # noqa: F401 - fixtures
