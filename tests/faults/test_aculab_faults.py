"""Aculab Cloud end to end: the CLI in a subprocess against the Aculab emulator on a loopback
socket. Plan, apply, plan; a rebind through inbound services; a short order; validation and
plan-time errors; a purchase whose answer is lost or late. The kill after every mutating
request of a mixed plan is in the fault matrix (tests/faults/matrix.py), with the other
providers.

Aculab sells blind orders (`tel_purchase` by region and quantity) and its listing dates a
purchase by day only, so these tests also show that an order in doubt is adopted from the
listing, never sent twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from numbers_iac.emulators.faults import Fault
from numbers_iac.emulators.serve import RunningServer, serve
from numbers_iac.simulation import World
from tests.faults.cli import (
    ACULAB_API_KEY,
    ACULAB_USERNAME,
    bought_once,
    cli,
    managed,
)

PROVIDER = """\
version: 1
providers:
  acct:
    type: aculab
    base_url: {base_url}
    settle_time: {settle}
    timeout: {timeout}
"""
BEFORE = """\
numbers:
  alpha:
    provider: acct
    country: GB
    region: London
    quantity: 3
    app: support-ivr
    labels: {team: a}
  old:
    provider: acct
    country: GB
    region: London
    quantity: 1
"""
AFTER = """\
numbers:
  alpha:
    provider: acct
    country: GB
    region: London
    quantity: 2
    app: sales-bot
    labels: {team: b}
  beta:
    provider: acct
    country: GB
    region: Manchester
    quantity: 2
    app: support-ivr
"""
WANTED = {"alpha": ("sales-bot", 2), "beta": ("support-ivr", 2)}


def new_world() -> World:
    world = World.from_seed({"apps": ["support-ivr", "sales-bot"], "owned": 2})
    for number in world.numbers.values():
        number.added_on = "2020-01-01"  # bought long ago, by hand: not any order's product
    return world


def open_server(world: World) -> RunningServer:
    return serve("aculab", world, auth_id=ACULAB_USERNAME, auth_token=ACULAB_API_KEY)


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


def write(tmp_path: Path, server: RunningServer, numbers: str, settle="1s", timeout=10) -> None:
    head = PROVIDER.format(base_url=server.url, settle=settle, timeout=timeout)
    (tmp_path / "numbers.yaml").write_text(head + numbers)


def services_of(server: RunningServer, world: World, numbers: list[str]) -> set[str]:
    """The template each number's own inbound service copies (None: no service)."""
    emulator = server.app.app
    templates = {name: emulator.services[name] for name in world.apps.values()}
    found = set()
    for number in numbers:
        config = emulator.services.get(number.lstrip("+"))
        found.add(next((t for t, c in templates.items() if c == config), None))
    return found


def no_changes(tmp_path: Path) -> None:
    final = cli(tmp_path, "plan", "--detailed-exitcode")
    assert final.returncode == 0 and "No changes" in final.stdout, final.stdout + final.stderr


def test_plan_apply_plan_and_a_rebind_changes_the_inbound_services(tmp_path, world, server):
    unmanaged = set(world.numbers)
    write(tmp_path, server, BEFORE)
    plan = cli(tmp_path, "plan", "--detailed-exitcode")
    assert plan.returncode == 2, plan.stdout + plan.stderr
    applied = cli(tmp_path, "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    no_changes(tmp_path)
    alpha = managed(tmp_path)["alpha"]
    assert len(alpha) == 3 and services_of(server, world, alpha) == {"support-ivr"}
    assert len(server.app.requests("POST", "/tel_purchase")) == 2  # one order per declaration

    (tmp_path / "numbers.yaml").write_text(
        (tmp_path / "numbers.yaml").read_text().replace("app: support-ivr", "app: sales-bot")
    )
    rebind = cli(tmp_path, "apply", "--auto-approve")
    assert rebind.returncode == 0, rebind.stdout + rebind.stderr
    assert services_of(server, world, alpha) == {"sales-bot"}
    sales = world.app_by_name("sales-bot")[0]
    assert {world.numbers[n].app_id for n in alpha} == {sales}
    no_changes(tmp_path)
    assert unmanaged <= set(world.numbers)
    assert ACULAB_API_KEY not in plan.stdout + applied.stdout + rebind.stdout + rebind.stderr


def test_a_short_order_records_what_came_and_the_next_plan_wants_the_rest(tmp_path, world, server):
    world.set_stock("gb-local-161", 3)
    write(tmp_path, server, AFTER.replace("quantity: 2\n    app: support-ivr", "quantity: 5"))
    short = cli(tmp_path, "apply", "--auto-approve", "--target", "beta")
    assert short.returncode == 1, short.stdout + short.stderr
    assert (short.stdout + short.stderr).count("bought 3 of 5") == 1  # said once, not twice
    assert len(managed(tmp_path)["beta"]) == 3
    plan = json.loads(cli(tmp_path, "plan", "--format", "json", "--target", "beta").stdout)
    purchases = [a for a in plan["actions"] if a["kind"] == "purchase"]
    assert [a["count"] for a in purchases] == [2]
    assert len(server.app.requests("POST", "/tel_purchase")) == 1


def test_a_toll_free_declaration_allowing_no_caller_is_a_located_error(tmp_path, server):
    """Said by the plan that would buy (a toll-free pool `import` wrote, holding its
    numbers, needs no call kinds), at the declaration's type, before anything is bought."""
    write(
        tmp_path,
        server,
        "numbers:\n  free:\n    provider: acct\n    country: GB\n    type: tollfree\n"
        "    quantity: 1\n    allow_landline: false\n",
    )
    assert cli(tmp_path, "validate").returncode == 0
    result = cli(tmp_path, "plan")
    assert result.returncode == 1
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert "numbers.yaml:12:5: numbers.free.type:" in line
    assert "allow_landline, allow_cellular, allow_payphone" in line
    assert "Traceback" not in result.stderr
    assert server.app.requests("POST", "/tel_purchase") == []


def test_an_unknown_regulation_address_is_a_plan_error_at_its_line(tmp_path, server):
    write(
        tmp_path,
        server,
        AFTER.replace("region: Manchester", "region: Manchester\n    regulation_address: HQ"),
    )
    result = cli(tmp_path, "plan")
    assert result.returncode == 1
    errors = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "numbers.yaml:" in errors[0] and "numbers.beta.regulation_address" in errors[0]
    assert "no regulation address 'HQ'" in errors[0]


# --------------------------------------------------------------------------- faults


def judge(tmp_path: Path, world: World, unmanaged: set[str], releases: set[str]) -> None:
    bought_once(world.log)
    released = {number for op, number in world.log if op == "release"}
    assert released <= releases, f"released {released - releases}, which no plan released"
    state = managed(tmp_path)
    assert set(state) == set(WANTED), state
    for declaration, (app, quantity) in WANTED.items():
        numbers = state[declaration]
        assert len(numbers) == quantity, (declaration, numbers)
        assert {world.numbers[n].app_id for n in numbers} == {world.app_by_name(app)[0]}
    assert set(world.numbers) == unmanaged | {n for ns in state.values() for n in ns}
    no_changes(tmp_path)


def test_a_lost_purchase_answer_is_adopted_never_resent(tmp_path, world, server):
    """Aculab bought the numbers and the answer was a 500: the order stays open, the next
    apply finds its numbers in the listing and adopts them; no second order is sent."""
    unmanaged = set(world.numbers)
    write(tmp_path, server, AFTER)
    server.app.add(Fault(status=500, then_fail=True, times=1, match="POST /tel_purchase"))
    first = cli(tmp_path, "apply", "--auto-approve")
    assert first.returncode == 1, first.stdout + first.stderr
    assert "may or may not have happened" in first.stdout + first.stderr
    second = cli(tmp_path, "apply", "--auto-approve")
    assert second.returncode == 0, second.stdout + second.stderr
    assert len(server.app.requests("POST", "/tel_purchase")) == 2  # alpha's and beta's, once
    judge(tmp_path, world, unmanaged, set())


def test_a_purchase_that_lands_after_the_timeout_is_adopted_not_bought_again(
    tmp_path, world, server
):
    """The client gives up after 2 s; Aculab carries the order out at 4 s. Until it shows in
    the listing the open order holds its shortfall back, so nothing is bought in its place."""
    unmanaged = set(world.numbers)
    write(tmp_path, server, AFTER, settle="60s", timeout=2)
    server.app.add(Fault(status=None, delay=4, times=1, match="POST /tel_purchase"))
    first = cli(tmp_path, "apply", "--auto-approve")
    assert first.returncode == 1, first.stdout + first.stderr
    waiting = cli(tmp_path, "plan")
    assert "unresolved order" in waiting.stdout, waiting.stdout
    deadline = time.monotonic() + 15
    while sum(1 for op, _ in world.log if op == "buy") < 4:  # the late order lands
        assert time.monotonic() < deadline
        time.sleep(0.1)
    second = cli(tmp_path, "apply", "--auto-approve")
    assert second.returncode == 0, second.stdout + second.stderr
    assert len(server.app.requests("POST", "/tel_purchase")) == 2
    judge(tmp_path, world, unmanaged, set())


def test_an_imported_toll_free_pool_keeps_its_type_and_asks_for_call_kinds_to_buy(
    tmp_path, world, server
):
    """`import` used to leave the type out of a toll-free pool (Aculab's checks wanted call
    kinds the listing does not tell), so raising its quantity bought local numbers into a
    pool named toll-free. The type is written; only buying more asks for call kinds."""
    tollfree = world.find_groups("GB", "tollfree")
    for number in world.buy_from_groups(tollfree, 2):
        number.added_on = "2020-01-01"
    write(tmp_path, server, "numbers: {}\n")
    imported = cli(tmp_path, "import", "acct")
    assert imported.returncode == 0, imported.stdout + imported.stderr
    config = (tmp_path / "numbers.yaml").read_text()
    assert "type: tollfree" in config, config
    assert cli(tmp_path, "validate").returncode == 0
    no_changes(tmp_path)
    head, pool = config.split("type: tollfree")[0].rsplit("\n  acct-", 1)
    raised = config.replace(pool, pool.replace("quantity: 2", "quantity: 3"))
    assert raised != config and "quantity: 2" in pool, config
    (tmp_path / "numbers.yaml").write_text(raised)
    planned = cli(tmp_path, "plan")
    assert planned.returncode == 1, planned.stdout + planned.stderr
    assert "a toll-free number must accept calls from someone" in planned.stderr
    assert server.app.requests("POST", "/tel_purchase") == []
