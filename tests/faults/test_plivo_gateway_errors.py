"""Plivo answers from a gateway (5xx the API never sends itself) over loopback, CLI in a subprocess."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from numbers_iac.emulators.faults import Fault
from numbers_iac.emulators.serve import RunningServer, serve
from numbers_iac.simulation import World
from tests.faults.cli import AUTH_ID, AUTH_TOKEN, BUY, cli
from tests.faults.test_plivo_purchase_faults import write_config


@pytest.fixture
def world() -> World:
    return World.from_seed({"apps": ["support-ivr"]})


@pytest.fixture
def server(world) -> Iterator[RunningServer]:
    running = serve("plivo", world, auth_id=AUTH_ID, auth_token=AUTH_TOKEN)
    try:
        yield running
    finally:
        running.shutdown()


def test_a_524_after_the_buy_leads_to_buying_twice(tmp_path, world, server):
    """Regression (double purchase): quantity 1, settle_time 30 s. Plivo sells the number, a proxy
    answers 524 ("origin timed out"). The adapter raises a plain ProviderError (only
    429/500/502/503/504 are transient, http.py _RETRYABLE_STATUS), purchase._failed_commit
    closes the attempt as "failed", the number carries no alias (the tag is written after
    the answer). The very next apply, well inside the settle time, sees an unmanaged number
    and buys a second one: the account pays for 2 numbers, 1 declared."""
    write_config(tmp_path, server, quantity=1, settle=30)
    server.app.add(Fault(status=524, then_fail=True, times=1, match=BUY))
    first = cli(tmp_path, "apply", "--auto-approve")  # the read-back finds it: exit 0
    server.app.clear()
    second = cli(tmp_path, "apply", "--auto-approve")
    buys = [n for op, n in world.log if op == "buy"]
    assert len(buys) == 1, (
        f"bought {buys} for a quantity of 1\n--- first apply\n{first.stdout}{first.stderr}"
        f"\n--- second apply\n{second.stdout}{second.stderr}"
    )


def test_a_524_with_a_failing_read_back_is_held_then_adopted(tmp_path, world, server):
    write_config(tmp_path, server, quantity=1, settle=30, retries=1)
    server.app.add(Fault(status=524, then_fail=True, times=1, match=BUY))
    server.app.add(Fault(status=500, times=100, match=f"GET /v1/Account/{AUTH_ID}/Number/3"))
    first = cli(tmp_path, "apply", "--auto-approve")
    assert first.returncode == 1 and "may or may not have happened" in first.stdout
    server.app.clear()
    second = cli(tmp_path, "apply", "--auto-approve")
    assert second.returncode == 0, second.stdout + second.stderr
    assert [op for op, _ in world.log].count("buy") == 1
    final = cli(tmp_path, "plan", "--detailed-exitcode")
    assert final.returncode == 0, final.stdout
