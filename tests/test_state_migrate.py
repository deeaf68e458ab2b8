"""`numbers-iac state migrate --to postgres|sqlite`, as a user runs it: a sandbox state moved
to PostgreSQL and back, with nothing lost and the DSN never printed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SQLITE_STATE = "state:\n  backend: sqlite\n"
POSTGRES_STATE = "state:\n  backend: postgres\n  dsn: ${NUMBERS_IAC_PG_DSN}\n"


def run(cwd: Path, *args: str, dsn: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBERS_IAC_")}
    env["NO_COLOR"] = "1"
    if dsn:
        env["NUMBERS_IAC_PG_DSN"] = dsn
    return subprocess.run(
        [sys.executable, "-m", "numbers_iac", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def config(directory: Path, state_block: str) -> None:
    text = (ROOT / "examples" / "numbers.yaml").read_text()
    text = text.replace(
        "state:\n  backend: sqlite            # default; the file lives in "
        "examples/.numbers-iac/state.sqlite\n",
        state_block,
    )
    assert state_block in text
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "numbers.yaml").write_text(text)


def pasted(migrated: subprocess.CompletedProcess) -> str:
    """The `state:` line migrate tells the user to write, as they would paste it."""
    found = re.search(r"\(state: (\{.*\})\)", migrated.stderr)
    assert found, migrated.stderr
    return f"state: {found.group(1)}\n"


def listing(directory: Path, dsn: str | None = None) -> dict:
    result = run(directory, "state", "list", "--format", "json", dsn=dsn)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_sandbox_state_moves_to_postgres_and_back_with_nothing_lost(tmp_path, pg_dsn):
    config(tmp_path, SQLITE_STATE)
    assert run(tmp_path, "apply", "--auto-approve").returncode == 0
    before = listing(tmp_path)
    journal = json.loads(run(tmp_path, "state", "journal", "--all", "--format", "json").stdout)

    moved = run(tmp_path, "state", "migrate", "--to", "postgres", dsn=pg_dsn)
    assert moved.returncode == 0, moved.stderr
    assert "Copied 6 managed numbers" in moved.stdout and "the copy matches" in moved.stdout
    assert pg_dsn not in moved.stdout + moved.stderr

    config(tmp_path, pasted(moved))  # the user points the configuration at it, as told
    assert listing(tmp_path, pg_dsn) == before
    copied = run(tmp_path, "state", "journal", "--all", "--format", "json", dsn=pg_dsn)
    assert json.loads(copied.stdout) == journal and journal
    plan = run(tmp_path, "plan", "--detailed-exitcode", dsn=pg_dsn)
    assert plan.returncode == 0 and "No changes" in plan.stdout, plan.stdout + plan.stderr

    again = run(tmp_path, "state", "migrate", "--to", "postgres", dsn=pg_dsn)
    assert again.returncode == 1 and "already on postgres" in again.stderr

    back = run(tmp_path, "state", "migrate", "--to", "sqlite", "--path", "back.sqlite", dsn=pg_dsn)
    assert back.returncode == 0, back.stderr
    config(tmp_path / "sqlite-again", pasted(back))
    assert listing(tmp_path / "sqlite-again") == before

    into_full = run(
        tmp_path, "state", "migrate", "--to", "sqlite", "--path", "back.sqlite", dsn=pg_dsn
    )
    assert into_full.returncode == 1 and "already holds a state" in into_full.stderr


def test_migrating_to_postgres_needs_the_dsn_in_the_environment(tmp_path):
    config(tmp_path, SQLITE_STATE)
    assert run(tmp_path, "apply", "--auto-approve").returncode == 0
    result = run(tmp_path, "state", "migrate", "--to", "postgres")
    assert result.returncode == 1
    assert result.stderr.startswith("error: set NUMBERS_IAC_PG_DSN to the connection string")


def test_an_unreachable_postgres_state_is_one_line_without_the_password(tmp_path):
    config(tmp_path, POSTGRES_STATE)
    dsn = "postgresql://app:Pa55word@127.0.0.1:9/numbers?connect_timeout=2"
    result = run(tmp_path, "state", "list", dsn=dsn)
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot open the state in PostgreSQL app@127.0.0.1:9/")
    assert len(result.stderr.strip().splitlines()) == 1 and "Pa55word" not in result.stderr
