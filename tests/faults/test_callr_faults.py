"""CALLR end to end: the CLI in a subprocess against the CALLR emulator on a loopback socket.
Plan, apply, plan; a Gold purchase priced in the plan; a kill after every mutating request of
a mixed plan; a kill after `reserve` and before `buy_order`; a buy whose answer is lost and
one whose answer comes after the client gave up.

Every CALLR call is a POST to one URL: the emulator names the JSON-RPC method in the fault
injector's log ("/json-rpc/v1.1/did/store.buy_order"), so faults and kills aim at methods.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from numbers_iac.emulators.faults import Fault
from numbers_iac.emulators.serve import RunningServer, serve
from numbers_iac.simulation import World
from tests.faults.cli import CALLR_API_KEY, bought_once, cli, converge, managed, start, wait

PROVIDER = """\
version: 1
providers:
  acct:
    type: callr
    base_url: {base_url}
    settle_time: {settle}
    timeout: {timeout}
"""
BEFORE = """\
numbers:
  alpha:
    provider: acct
    country: FR
    region: Amiens
    quantity: 3
    app: support-ivr
    labels: {team: a}
  old:
    provider: acct
    country: FR
    region: Amiens
    quantity: 1
"""
AFTER = """\
numbers:
  alpha:
    provider: acct
    country: FR
    region: Amiens
    quantity: 2
    app: sales-bot
    labels: {team: b}
  beta:
    provider: acct
    country: FR
    prefix: "472"
    quantity: 2
    app: support-ivr
    class: gold
    assignment: sequential
"""
WANTED = {"alpha": ("sales-bot", 2), "beta": ("support-ivr", 2)}
MUTATING = (
    "did/store.reserve",
    "did/store.buy_order",
    "did/store.cancel_order",
    "did/store.cancel_subscription",
    "apps.assign_did",
    "apps.remove_did",
)
#: the AFTER plan's mutating calls: beta's reserve and buy_order and the assignment of its
#: two DIDs, alpha's two rebinds, and the two releases (alpha's surplus and old)
MUTATIONS = 8


def is_mutation(path: str) -> bool:
    return path.endswith(MUTATING)


def new_world() -> World:
    return World.from_seed({"apps": ["support-ivr", "sales-bot"], "owned": 2})


def open_server(world: World) -> RunningServer:
    return serve("callr", world, auth_token=CALLR_API_KEY)


@pytest.fixture
def world() -> World:
    return new_world()


@pytest.fixture
def server(world) -> Iterator[RunningServer]:
    running = open_server(world)
    try:
        yield running
    finally:
        running.shutdown()


def write(cwd: Path, server: RunningServer, numbers: str, settle="1s", timeout=10) -> None:
    head = PROVIDER.format(base_url=server.url, settle=settle, timeout=timeout)
    (cwd / "numbers.yaml").write_text(head + numbers)


def no_changes(cwd: Path) -> None:
    final = cli(cwd, "plan", "--detailed-exitcode")
    assert final.returncode == 0 and "No changes" in final.stdout, final.stdout + final.stderr


def calls(server: RunningServer, method: str) -> int:
    """Calls of a JSON-RPC method that reached the emulator and were answered."""
    return sum(1 for r in server.app.log if r.path.endswith(method) and r.status == 200)


def judge(
    cwd: Path, server: RunningServer, unmanaged: set[str], releases: set[str], replan=True
) -> None:
    """Bought once, released only what a plan released, exactly what is declared and
    nothing unmanaged; `replan`: and the plan shows no changes (converge checked it)."""
    world = server.app.app.world
    bought_once(world.log)
    released = {number for op, number in world.log if op == "release"}
    assert released <= releases, f"released {released - releases}, which no plan released"
    state = managed(cwd)
    assert set(state) == set(WANTED), state
    for declaration, (app, quantity) in WANTED.items():
        numbers = state[declaration]
        assert len(numbers) == quantity, (declaration, numbers)
        assert {world.numbers[n].app_id for n in numbers} == {world.app_by_name(app)[0]}
    assert set(world.numbers) == unmanaged | {n for ns in state.values() for n in ns}
    assert {server.app.app.classes.get(n) for n in state["beta"]} == {"GOLD"}
    if replan:
        no_changes(cwd)


def test_plan_apply_plan_with_a_gold_price_in_the_plan(tmp_path, world, server):
    unmanaged = set(world.numbers)
    write(tmp_path, server, AFTER)
    plan = cli(tmp_path, "plan", "--format", "json")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    prices = {
        a["declaration"]: a["price"]["monthly"]
        for a in json.loads(plan.stdout)["actions"]
        if a["kind"] == "purchase"
    }
    assert float(prices["beta"]) == 10 * float(prices["alpha"]) > 0  # Gold costs more
    text = cli(tmp_path, "plan")
    assert "8.00" in text.stdout, text.stdout  # Lyon Gold: 10 x 0.80 a month
    applied = cli(tmp_path, "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    no_changes(tmp_path)
    assert calls(server, "did/store.reserve") == 2 == calls(server, "did/store.buy_order")
    assert server.app.app.open_orders() == {}
    assert set(world.numbers) >= unmanaged
    assert all(n.startswith("+33472") for n in managed(tmp_path)["beta"])
    output = plan.stdout + text.stdout + applied.stdout + applied.stderr
    assert CALLR_API_KEY not in output


# --------------------------------------------------------------------------- the kill matrix


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> tuple[Path, dict, set[str], set[str]]:
    """BEFORE applied once (its state file and account), and the AFTER plan's releases:
    every kill case starts from a copy."""
    cwd = tmp_path_factory.mktemp("callr-prepared")
    world = new_world()
    unmanaged = set(world.numbers)
    server = open_server(world)
    try:
        write(cwd, server, BEFORE)
        first = cli(cwd, "apply", "--auto-approve")
        assert first.returncode == 0, first.stdout + first.stderr
        write(cwd, server, AFTER)
        plan = json.loads(cli(cwd, "plan", "--format", "json").stdout)
    finally:
        server.shutdown()
    releases = {a["number"] for a in plan["actions"] if a["kind"] == "release"}
    assert len(releases) == 2
    return cwd, world.to_dict(), unmanaged, releases


def resume(prepared, tmp_path: Path) -> tuple[RunningServer, set[str], set[str]]:
    source, snapshot, unmanaged, releases = prepared
    shutil.copytree(source / ".numbers-iac", tmp_path / ".numbers-iac")
    server = open_server(World.from_dict(snapshot))
    write(tmp_path, server, AFTER)
    return server, unmanaged, releases


def test_the_mixed_plan_makes_the_mutations_the_matrix_covers(prepared, tmp_path):
    server, unmanaged, releases = resume(prepared, tmp_path)
    try:
        applied = cli(tmp_path, "apply", "--auto-approve", "--allow-release")
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert len([r for r in server.app.log if is_mutation(r.path)]) == MUTATIONS
        judge(tmp_path, server, unmanaged, releases)
    finally:
        server.shutdown()


@pytest.mark.parametrize("kill_at", range(1, MUTATIONS + 1))
def test_kill_at_every_mutation(prepared, tmp_path, kill_at):
    server, unmanaged, releases = resume(prepared, tmp_path)
    victim: dict = {}
    seen = [0]

    def kill_at_mutation(method: str, path: str) -> None:
        if not is_mutation(path) or "process" not in victim:
            return
        seen[0] += 1
        if seen[0] == kill_at and victim["process"].poll() is None:
            victim["process"].send_signal(signal.SIGKILL)

    try:
        server.app.add(Fault(status=None, times=10**6, on_response=kill_at_mutation))
        victim["process"] = start(tmp_path, "apply", "--auto-approve", "--allow-release")
        wait(victim["process"])
        assert victim["process"].returncode == -signal.SIGKILL
        time.sleep(0.2)  # calls already sent finish at the provider
        server.app.clear()
        converge(tmp_path, 0.0, "--allow-release")  # ends on a plan with no changes
        judge(tmp_path, server, unmanaged, releases, replan=False)
        assert calls(server, "did/store.buy_order") == 1  # beta's shortfall bought once
        # A reserve whose answer died with the CLI was never journaled: nobody can name its
        # token, so it holds its numbers until CALLR lets it lapse (nothing is bought)
        assert len(server.app.app.open_orders()) == (1 if kill_at == 1 else 0)
    finally:
        server.shutdown()


# --------------------------------------------------------------------------- reserve, then die


def test_a_kill_between_reserve_and_buy_order_cancels_that_order_once(tmp_path, world, server):
    """The CLI dies after CALLR reserved (the token is journaled) and before buy_order
    reached CALLR. The next apply finds the order still open, cancels it, then reserves
    and buys once: the shortfall never holds two orders."""
    unmanaged = set(world.numbers)
    emulator = server.app.app
    write(tmp_path, server, AFTER)
    victim: dict = {}
    open_at_reserve: list[int] = []

    def kill(method: str, path: str) -> None:
        victim["process"].send_signal(signal.SIGKILL)
        victim["process"].wait()

    def count_open(method: str, path: str) -> None:
        open_at_reserve.append(len(emulator.open_orders()))

    server.app.add(Fault(status=None, times=99, match="did/store.reserve", on_request=count_open))
    server.app.add(Fault(status=503, times=1, match="did/store.buy_order", on_request=kill))
    victim["process"] = start(tmp_path, "apply", "--auto-approve", "--target", "beta")
    wait(victim["process"])
    assert victim["process"].returncode == -signal.SIGKILL
    (dead,) = emulator.open_orders()  # reserved, never bought
    plan = cli(tmp_path, "plan", "--target", "beta")
    assert "settle" in plan.stdout.lower() or "not bought" in plan.stdout, plan.stdout
    applied = cli(tmp_path, "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert emulator.closed[dead] == "cancelled"
    assert emulator.open_orders() == {}
    assert all(n <= 1 for n in open_at_reserve), open_at_reserve
    assert open_at_reserve[1:] and all(n == 0 for n in open_at_reserve[1:])
    assert calls(server, "did/store.buy_order") == 2  # alpha's and beta's, once each
    alpha = managed(tmp_path)["alpha"]
    assert len(alpha) == 2 and len(managed(tmp_path)["beta"]) == 2
    bought_once(world.log)
    assert set(world.numbers) == unmanaged | set(alpha) | set(managed(tmp_path)["beta"])
    no_changes(tmp_path)


# --------------------------------------------------------------------------- lost and late


def test_a_lost_buy_answer_is_adopted_never_resent(tmp_path, world, server):
    """CALLR bought and the answer was a 500: the attempt stays open, the next apply finds
    its DIDs in the listing and adopts them; no second order is placed."""
    unmanaged = set(world.numbers)
    write(tmp_path, server, AFTER)
    server.app.add(Fault(status=500, then_fail=True, times=1, match="did/store.buy_order"))
    first = cli(tmp_path, "apply", "--auto-approve")
    assert first.returncode == 1, first.stdout + first.stderr
    assert "may or may not have happened" in first.stdout + first.stderr
    second = cli(tmp_path, "apply", "--auto-approve")
    assert second.returncode == 0, second.stdout + second.stderr
    assert len(server.app.requests(contains="did/store.reserve")) == 2  # alpha, beta: once
    assert len(server.app.requests(contains="did/store.buy_order")) == 2
    bought_once(world.log)
    state = managed(tmp_path)
    assert len(state["alpha"]) == 2 and len(state["beta"]) == 2
    assert set(world.numbers) == unmanaged | set(state["alpha"]) | set(state["beta"])
    no_changes(tmp_path)


def test_a_buy_answered_after_the_timeout_is_never_bought_twice(tmp_path, world, server):
    """The client gives up on buy_order after 2 s; CALLR carries it out at 4 s. An apply in
    between finds the order still open and cancels it before reserving again (so the late
    buy finds no order), or finds its DIDs and adopts them: either way, bought once."""
    unmanaged = set(world.numbers)
    write(tmp_path, server, AFTER, timeout=2)
    landed = threading.Event()
    late = Fault(
        status=None, delay=4, match="did/store.buy_order", on_response=lambda *_: landed.set()
    )
    server.app.add(late)
    first = cli(tmp_path, "apply", "--auto-approve", "--target", "beta")
    assert first.returncode == 1, first.stdout + first.stderr
    cli(tmp_path, "apply", "--auto-approve")  # while the late buy is still on its way
    assert landed.wait(15)
    converge(tmp_path, 1.1)
    bought_once(world.log)
    state = managed(tmp_path)
    assert len(state["alpha"]) == 2 and len(state["beta"]) == 2
    assert set(world.numbers) == unmanaged | set(state["alpha"]) | set(state["beta"])
    assert server.app.app.open_orders() == {}
    no_changes(tmp_path)


# --------------------------------------------------------------------------- discovery, checks


def test_inventory_lists_area_codes_with_classic_prices(tmp_path, server):
    write(tmp_path, server, "numbers: {}\n")
    shown = cli(tmp_path, "inventory", "acct", "--country", "FR")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "Amiens" in shown.stdout and "0.80" in shown.stdout
    # prefixes as a declaration's `prefix:` takes them (national digits), as on other providers
    assert re.search(r"\b322\b", shown.stdout) and "+33322" not in shown.stdout
    called = {r.path.rsplit("/json-rpc/v1.1/", 1)[-1] for r in server.app.log}
    assert {"did/areacode.countries", "did/areacode.types", "did/areacode.get_list"} <= called
    assert "did/store.get_quote" in called


def test_bad_callr_options_are_located_errors(tmp_path, server):
    write(
        tmp_path,
        server,
        AFTER.replace("class: gold", "class: platinum").replace(
            "region: Amiens\n    quantity: 2", "type: mobile\n    quantity: 2"
        ),
    )
    result = cli(tmp_path, "validate")
    assert result.returncode == 1
    errors = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert any("numbers.beta.class" in e and "classic or gold" in e for e in errors), errors
    assert any("numbers.alpha.type" in e and "mobile" in e for e in errors), errors
    assert "Traceback" not in result.stderr and not server.app.log
