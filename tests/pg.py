"""A throwaway PostgreSQL server for the tests, on a loopback port.

`pg_server` (one per test session) runs `initdb` and `pg_ctl` from Debian's packages
(`/usr/lib/postgresql/*/bin`) in a temporary directory, as an unprivileged user when the tests
run as root (PostgreSQL refuses to run as root; CI runs as root), and stops it at the end.
`pg_dsn` gives each test a database of its own on it; `backend`, `open_store` and `store`
run a test once per state backend (the state suite: tests/test_state*.py). `NUMBERS_IAC_TEST_PG_DSN` points the
tests at a server of your own instead (a DSN whose user may create databases).

Without a server these tests skip, saying why; in CI (`CI=true`) they fail instead: the state
suite must run on PostgreSQL there.

tests/conftest.py makes both fixtures available to every test.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from numbers_iac.state.base import StateStore
from numbers_iac.state.postgres import PostgresStateStore
from numbers_iac.state.sqlite import SqliteStateStore

BACKENDS = ("sqlite", "postgres")
UNPRIVILEGED_USERS = ("postgres", "nobody")
SUPERUSER = "numbers_iac_test"
_databases = itertools.count(1)


def no_server(reason: str) -> None:
    """Skip, or in CI fail: a state suite that silently skipped PostgreSQL proves nothing."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is needed in CI: {reason}", pytrace=False)
    pytest.skip(f"no PostgreSQL server could be started: {reason}")


def server_binaries() -> Path | None:
    """The newest Debian PostgreSQL's bin directory, else wherever `initdb` is on PATH."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_as() -> tuple[int, int] | None:
    """(uid, gid) to run the server as, when we are root."""
    if os.geteuid() != 0:
        return None
    for name in UNPRIVILEGED_USERS:
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
    return None


def _demote(ids: tuple[int, int] | None):
    if ids is None:
        return None

    def demote() -> None:
        os.setgroups([])
        os.setgid(ids[1])
        os.setuid(ids[0])

    return demote


class Server:
    """A running cluster; `dsn(dbname)` connects to it as its superuser over loopback."""

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.ids = _run_as()
        if os.geteuid() == 0 and self.ids is None:
            no_server("running as root and no unprivileged user to run the server as")
        self.root = Path(tempfile.mkdtemp(prefix="numbers-iac-pg-"))
        if self.ids:
            os.chown(self.root, *self.ids)
        self.data = self.root / "data"
        self.port = free_port()
        self.log = self.root / "server.log"

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=_demote(self.ids),  # noqa: PLW1509 - must drop root before exec
            cwd=self.root,
            env={**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"},
        )

    def start(self) -> None:
        init = self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )
        if init.returncode != 0:
            no_server(f"initdb failed: {(init.stderr or init.stdout).strip()[-500:]}")
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60"
        )
        started = self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        if started.returncode != 0:
            log = self.log.read_text()[-500:] if self.log.exists() else ""
            no_server(f"pg_ctl start failed: {(started.stderr or started.stdout).strip()} {log}")

    def stop(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"


def create_database(admin_dsn: str) -> str:
    """A new empty database on the server of `admin_dsn`; returns its DSN."""
    import psycopg
    from psycopg import conninfo

    name = f"state_{os.getpid()}_{next(_databases)}"
    with psycopg.connect(admin_dsn, autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")
    return conninfo.make_conninfo(admin_dsn, dbname=name)


def store_opener(backend: str, request, directory: Path) -> tuple[Callable[[], StateStore], str]:
    """How to open a test's store of `backend` (another connection each call): a function,
    and the same as Python source for a subprocess. SQLite lives in `directory`; PostgreSQL
    in the test's own database (`pg_dsn`)."""
    if backend == "sqlite":
        path = str(directory / "sub" / "state.sqlite")
        source = f"__import__('numbers_iac.state.sqlite').state.sqlite.SqliteStateStore({path!r})"
        return (lambda: SqliteStateStore(path)), source
    dsn = request.getfixturevalue("pg_dsn")
    source = f"__import__('numbers_iac.state.postgres').state.postgres.PostgresStateStore({dsn!r})"
    return (lambda: PostgresStateStore(dsn)), source


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    """Each state backend in turn: a test using it runs once per backend."""
    return request.param


@pytest.fixture
def open_store(backend, request, tmp_path) -> Callable[[], StateStore]:
    """Opens this test's store of `backend`, a new connection each call."""
    return store_opener(backend, request, tmp_path)[0]


@pytest.fixture
def store(open_store) -> Iterator[StateStore]:
    """This test's store, open, of each backend in turn."""
    with open_store() as opened:
        yield opened


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """The DSN of a PostgreSQL server's maintenance database, for creating databases."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        no_server("psycopg is not installed (pip install -e '.[test]')")
    external = os.environ.get("NUMBERS_IAC_TEST_PG_DSN")
    if external:
        yield external
        return
    bindir = server_binaries()
    if bindir is None:
        no_server("no initdb in /usr/lib/postgresql/*/bin or on PATH (apt-get install postgresql)")
    server = Server(bindir)
    server.start()
    try:
        yield server.dsn()
    finally:
        server.stop()


@pytest.fixture
def pg_dsn(pg_server: str) -> str:
    """A fresh database of its own for one test."""
    return create_database(pg_server)
