"""Plivo purchases whose answer is late, lost or never heard, over a loopback socket with the
CLI in a subprocess. Each ends, after reruns, with exactly the declared quantity on the
account, every number bought once and managed, and a plan with no changes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from numbers_iac.emulators.faults import Fault
from numbers_iac.emulators.serve import RunningServer, serve
from numbers_iac.simulation import World
from tests.faults.cli import (
    AUTH_ID,
    AUTH_TOKEN,
    BUY,
    bought_once,
    cli,
    converge,
    killer,
    managed,
    start,
    wait,
)

CONFIG = """\
version: 1
providers:
  plivo-eu:
    type: plivo
    base_url: {base_url}
    auth_id: ${{PLIVO_AUTH_ID}}
    auth_token: ${{PLIVO_AUTH_TOKEN}}
    timeout: {timeout}
    settle_time: {settle}
    rate_limit: [100000, 1]
    max_retries: {retries}
numbers:
  support-fr:
    provider: plivo-eu
    country: FR
    type: local
    region: {region}
    quantity: {quantity}
    app: support-ivr
"""
SETTLE = 2.0


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


def write_config(
    tmp_path, server, quantity=3, timeout=10, region="AMIENS, FRANCE", settle=SETTLE, retries=8
):
    (tmp_path / "numbers.yaml").write_text(
        CONFIG.format(
            base_url=server.url,
            timeout=timeout,
            settle=settle,
            quantity=quantity,
            region=region,
            retries=retries,
        )
    )


def assert_converged(tmp_path, world, quantity: int) -> None:
    buys = bought_once(world.log)
    assert len(buys) == quantity == len(world.numbers)
    assert sorted(managed(tmp_path)["support-fr"]) == sorted(world.numbers)
    assert {n.alias for n in world.numbers.values()} == {"support-fr"}
    final = cli(tmp_path, "plan", "--detailed-exitcode")
    assert final.returncode == 0 and "No changes" in final.stdout, final.stdout + final.stderr


def test_a_buy_that_lands_after_the_timeout_is_adopted_not_bought_again(tmp_path, world, server):
    """Plivo carries one buy out 5 s after it arrived; the client gave up after 2 s and its
    read-back found nothing yet. The attempt stays open, so nothing replaces it; once the
    number lands, the next apply adopts it."""
    write_config(tmp_path, server, timeout=2, settle=30)
    server.app.add(Fault(status=None, delay=5, times=1, match=BUY))

    first = cli(tmp_path, "apply", "--auto-approve")
    assert first.returncode == 1, first.stdout + first.stderr
    assert "may or may not have happened" in first.stdout + first.stderr
    waiting = cli(tmp_path, "plan", "--detailed-exitcode")
    assert "unresolved order" in waiting.stdout
    assert "to purchase" not in waiting.stdout  # the open attempt holds back its number

    deadline = time.monotonic() + 15
    while sum(1 for op, _ in world.log if op == "buy") < 3:  # the late buy lands
        assert time.monotonic() < deadline
        time.sleep(0.1)
    second = cli(tmp_path, "apply", "--auto-approve")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "bought by an interrupted apply" in second.stdout
    assert_converged(tmp_path, world, 3)


def test_a_500_with_nothing_bought_is_held_then_settled_as_not_bought(tmp_path, world, server):
    """A 500 that did nothing looks the same as one that did: the shortfall waits the settle
    time, then the attempt is closed as not bought and the number is bought elsewhere."""
    write_config(tmp_path, server)
    server.app.add(Fault(status=500, times=1, match=BUY))
    first = cli(tmp_path, "apply", "--auto-approve")
    assert first.returncode == 1
    held = cli(tmp_path, "plan")
    assert "unresolved order" in held.stdout and "to purchase" not in held.stdout
    time.sleep(SETTLE + 0.5)
    settled = cli(tmp_path, "plan")
    assert "settle an unresolved purchase" in settled.stdout
    assert "1 to purchase" in settled.stdout, settled.stdout
    converge(tmp_path, 0)
    assert_converged(tmp_path, world, 3)


def test_a_lost_answer_with_a_failing_read_back_is_adopted_later(tmp_path, world, server):
    """The buy happened, its answer was a 500, and reading the number back failed too."""
    write_config(tmp_path, server, retries=1)
    server.app.add(Fault(status=500, then_fail=True, times=1, match=BUY))
    server.app.add(Fault(status=500, times=100, match=f"GET /v1/Account/{AUTH_ID}/Number/3"))
    first = cli(tmp_path, "apply", "--auto-approve")
    assert first.returncode == 1, first.stdout + first.stderr
    server.app.clear()
    second = cli(tmp_path, "apply", "--auto-approve")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "bought by an interrupted apply" in second.stdout
    assert_converged(tmp_path, world, 3)


def test_a_kill_after_a_pending_purchase_buys_once(tmp_path):
    """Regulated country: Plivo accepts the buy as pending and does not list it. Killed
    right then, the next apply finds it by reading it back, counts it, buys only the rest;
    once delivered, the account holds exactly the quantity."""
    world = World.from_seed({"apps": ["support-ivr"], "regulated": ["FR"]})
    server = serve("plivo", world, auth_id=AUTH_ID, auth_token=AUTH_TOKEN)
    victim: dict = {}
    try:
        write_config(tmp_path, server, quantity=3)
        server.app.add(Fault(status=None, times=1, match=BUY, on_response=killer(victim)))
        victim["process"] = start(tmp_path, "apply", "--auto-approve")
        wait(victim["process"])
        assert victim["process"].returncode == -9
        time.sleep(SETTLE + 0.5)  # anything journaled but never sent is settled as not bought

        rerun = cli(tmp_path, "apply", "--auto-approve")
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        plan = cli(tmp_path, "plan")
        assert "to purchase" not in plan.stdout and "pending" in plan.stdout, plan.stdout
        for number in list(world.numbers):
            world.activate(number)
        converge(tmp_path, 0)
        buys = bought_once(world.log)
        assert len(buys) == 3 == len(world.numbers)
        assert sorted(managed(tmp_path)["support-fr"]) == sorted(world.numbers)
    finally:
        server.shutdown()


def test_a_thousand_numbers_are_bought_in_one_apply(tmp_path, world, server):
    write_config(tmp_path, server, quantity=1000, region="PARIS, FRANCE")
    applied = cli(tmp_path, "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout[-2000:] + applied.stderr[-2000:]
    assert "Numbers: 1,000 purchased" in applied.stdout
    buys = bought_once(world.log)
    assert len(buys) == 1000
    state = json.loads(cli(tmp_path, "state", "list", "--format", "json").stdout)
    assert len(state["numbers"]) == 1000
    again = cli(tmp_path, "plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout[-2000:]
