"""Fixtures shared across the suite: a throwaway PostgreSQL (`pg_server`, `pg_dsn`) and the
state store of each backend in turn (`backend`, `open_store`, `store`); see tests/pg.py.

When the session ends, every output and file the CLI runs of the suite produced is searched
for the credentials they were given (tests/faults/cli.py): one found fails the session."""

from tests.pg import backend, open_store, pg_dsn, pg_server, store  # noqa: F401 - fixtures


def pytest_sessionfinish(session, exitstatus) -> None:
    from tests.faults.cli import DIRECTORIES, PRODUCED, leaked_secrets

    leaks = leaked_secrets()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and PRODUCED:
        reporter.write_sep("-", "secrets sweep")
        reporter.write_line(
            f"secrets sweep: {len(PRODUCED)} CLI outputs and the files in "
            f"{len(DIRECTORIES)} directories searched, {len(leaks)} credentials found"
        )
    if leaks:
        if reporter is not None:
            for leak in leaks:
                reporter.write_line(f"SECRET LEAKED: {leak}", red=True)
        session.exitstatus = 1
