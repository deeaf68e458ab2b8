"""The GitOps loop over loopback, with the CLI in subprocesses: runners in separate
directories sharing one PostgreSQL state (`tests/pg.py`) and one Plivo emulator.

Two applies at once buy the declared numbers once; a plan from a third, empty directory sees
no changes; a killed lock holder leaves no lock behind; and `drift` exits 2 naming a number
someone rebound in the provider's console."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from numbers_iac.emulators.faults import Fault
from numbers_iac.emulators.serve import serve
from numbers_iac.simulation import World
from tests.faults.cli import AUTH_ID, AUTH_TOKEN, BUY, cli, start, wait

CONFIG = """\
version: 1
state:
  backend: postgres
  dsn: ${{NUMBERS_IAC_PG_DSN}}
providers:
  plivo-eu:
    type: plivo
    base_url: {base_url}
    auth_id: ${{PLIVO_AUTH_ID}}
    auth_token: ${{PLIVO_AUTH_TOKEN}}
    rate_limit: [100000, 1]
numbers:
  support:
    provider: plivo-eu
    country: FR
    region: AMIENS, FRANCE
    quantity: {quantity}
    app: support-ivr
    labels: {{team: support}}
"""


@pytest.fixture
def emulator():
    world = World.from_seed({"apps": ["support-ivr", "sales-bot"]})
    server = serve("plivo", world, auth_id=AUTH_ID, auth_token=AUTH_TOKEN)
    try:
        yield world, server
    finally:
        server.shutdown()


def runner(root: Path, name: str, base_url: str, quantity: int = 3) -> Path:
    """A CI runner's checkout: the configuration and nothing else."""
    directory = root / name
    directory.mkdir()
    (directory / "numbers.yaml").write_text(CONFIG.format(base_url=base_url, quantity=quantity))
    return directory


def until(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_two_applies_sharing_a_postgres_state_buy_once_and_a_third_runner_sees_no_changes(
    tmp_path, emulator, pg_dsn
):
    world, server = emulator
    slow = server.app.add(Fault(status=None, delay=0.3, times=10**6, match=BUY))
    first, second = (runner(tmp_path, name, server.url) for name in ("a", "b"))
    applies = [
        start(d, "apply", "--auto-approve", "--lock-timeout", "60", NUMBERS_IAC_PG_DSN=pg_dsn)
        for d in (first, second)
    ]
    outputs = [wait(p) for p in applies]
    for process, (out, err) in zip(applies, outputs, strict=True):
        assert process.returncode == 0, out + err
    assert sum(1 for op, _ in world.log if op == "buy") == 3 and slow.seen == 3
    assert sum("No changes" in out for out, _ in outputs) == 1  # the one that waited

    third = runner(tmp_path, "c", server.url)
    plan = cli(third, "plan", "--detailed-exitcode", NUMBERS_IAC_PG_DSN=pg_dsn)
    assert plan.returncode == 0 and "No changes" in plan.stdout, plan.stdout + plan.stderr
    assert [p.name for p in third.iterdir()] == ["numbers.yaml"]  # no local state anywhere
    assert pg_dsn not in plan.stdout + plan.stderr


def test_a_waiting_apply_names_the_holder_and_a_killed_holder_leaves_no_lock(
    tmp_path, emulator, pg_dsn
):
    world, server = emulator
    slow = server.app.add(Fault(status=None, delay=5.0, times=10**6, match=BUY))
    first, second = (runner(tmp_path, name, server.url) for name in ("a", "b"))
    holder = start(first, "apply", "--auto-approve", NUMBERS_IAC_PG_DSN=pg_dsn)
    try:
        until(lambda: slow.seen or holder.poll() is not None)
        refused = cli(
            second, "apply", "--auto-approve", "-lock-timeout=0.5", NUMBERS_IAC_PG_DSN=pg_dsn
        )
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "locked by numbers-iac apply by" in refused.stderr
        assert f"(pid {holder.pid} on " in refused.stderr
        planned = cli(second, "plan", NUMBERS_IAC_PG_DSN=pg_dsn)  # plans take no lock
        assert planned.returncode == 0, planned.stderr
    finally:
        holder.send_signal(signal.SIGKILL)
        wait(holder)
    until(lambda: len(world.numbers) == 3, 30)  # the buys it started land all the same
    after = cli(
        second, "apply", "--auto-approve", "--lock-timeout", "10", NUMBERS_IAC_PG_DSN=pg_dsn
    )
    assert after.returncode == 0, after.stdout + after.stderr
    assert "locked" not in after.stderr and "adopt" in after.stdout
    assert sum(1 for op, _ in world.log if op == "buy") == 3
    assert cli(second, "plan", "--detailed-exitcode", NUMBERS_IAC_PG_DSN=pg_dsn).returncode == 0


def test_drift_names_a_number_rebound_in_the_console(tmp_path, emulator, pg_dsn):
    world, server = emulator
    directory = runner(tmp_path, "a", server.url, quantity=2)
    assert cli(directory, "apply", "--auto-approve", NUMBERS_IAC_PG_DSN=pg_dsn).returncode == 0
    clean = cli(directory, "drift", NUMBERS_IAC_PG_DSN=pg_dsn)
    assert clean.returncode == 0 and "No drift" in clean.stdout, clean.stdout + clean.stderr

    rebound = sorted(world.numbers)[0]
    world.update(rebound, app_id=world.app_by_name("sales-bot")[0])  # someone, by hand
    drift = cli(directory, "drift", NUMBERS_IAC_PG_DSN=pg_dsn)
    assert drift.returncode == 2, drift.stdout + drift.stderr
    assert f"{rebound} (support): app applied support-ivr, now sales-bot" in drift.stdout
    assert f"{rebound} (support): app now sales-bot, declared support-ivr" in drift.stdout

    report = json.loads(cli(directory, "drift", "-format=json", NUMBERS_IAC_PG_DSN=pg_dsn).stdout)
    [provider] = report["providers"]
    assert report["drift"] is True and provider["changed_outside"] == [
        {
            "declaration": "support",
            "number": rebound,
            "changes": [{"field": "app", "applied": "support-ivr", "now": "sales-bot"}],
        }
    ]
    markdown = cli(directory, "drift", "--format", "markdown", NUMBERS_IAC_PG_DSN=pg_dsn)
    assert markdown.returncode == 2 and f"`{rebound}`" in markdown.stdout

    assert cli(directory, "apply", "--auto-approve", NUMBERS_IAC_PG_DSN=pg_dsn).returncode == 0
    assert cli(directory, "drift", NUMBERS_IAC_PG_DSN=pg_dsn).returncode == 0
