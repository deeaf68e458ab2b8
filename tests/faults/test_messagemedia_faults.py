"""MessageMedia over a loopback socket with the CLI in a subprocess (HMAC-signed requests):
plan, apply, plan -> "No changes"; the state file lost and rebuilt from the labels on the
provider; a wrong secret is one error line; a buy whose answer is lost and one that lands
after the client gave up (the kill after each mutating request of a mixed plan is in the
fault matrix, tests/faults/matrix.py). Each ends with the account holding exactly what is declared,
nothing unmanaged, every number bought once, and a plan with no changes."""

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
    MM_API_KEY,
    MM_API_SECRET,
    bought_once,
    cli,
    converge,
    managed,
)

ASSIGN = "POST /v1/messaging/numbers/dedicated/"
PROVIDER = """\
version: 1
providers:
  mm:
    type: messagemedia
    base_url: {base_url}
    auth: hmac
    timeout: {timeout}
    settle_time: {settle}
    max_retries: 1
"""
AFTER = """\
numbers:
  alpha:
    provider: mm
    country: AU
    type: mobile
    capabilities: [sms]
    quantity: 2
    labels: {team: b, tier: gold}
  beta:
    provider: mm
    country: FR
    prefix: "322"
    quantity: 2
    labels: {team: fr}
"""
#: declaration -> (quantity, metadata) the account must end with
WANTED = {"alpha": (2, {"team": "b", "tier": "gold"}), "beta": (2, {"team": "fr"})}


@pytest.fixture
def world() -> World:
    return World.from_seed({"owned": 2})


@pytest.fixture
def server(world) -> Iterator[RunningServer]:
    running = serve("messagemedia", world, auth_id=MM_API_KEY, auth_token=MM_API_SECRET)
    try:
        yield running
    finally:
        running.shutdown()


def write(tmp_path: Path, server, numbers: str, timeout=10, settle="0.5s") -> None:
    provider = PROVIDER.format(base_url=server.url, timeout=timeout, settle=settle)
    (tmp_path / "numbers.yaml").write_text(provider + numbers)


def check(
    tmp_path, world: World, unmanaged: set[str], releases: set[str] = frozenset(), replan=True
):
    """The account holds exactly what is declared, labelled, every number bought once, and
    (unless `converge` just saw it) the plan says "No changes"."""
    bought_once(world.log)
    released = {number for op, number in world.log if op == "release"}
    assert released <= releases, f"released {released - releases}, which no plan released"
    state = managed(tmp_path)
    assert set(state) == set(WANTED), state
    for declaration, (quantity, metadata) in WANTED.items():
        assert len(state[declaration]) == quantity, (declaration, state[declaration])
        assert {world.numbers[n].alias for n in state[declaration]} == {declaration}
        assert all(world.numbers[n].labels == metadata for n in state[declaration])
    assert set(world.numbers) == set(unmanaged) | {n for ns in state.values() for n in ns}
    if not replan:
        return
    final = cli(tmp_path, "plan", "--detailed-exitcode")
    assert final.returncode == 0 and "No changes" in final.stdout, final.stdout + final.stderr


def test_plan_apply_plan_converges_over_loopback(tmp_path, world, server):
    unmanaged = set(world.numbers)
    write(tmp_path, server, AFTER)
    plan = cli(tmp_path, "plan")
    assert plan.returncode == 0 and "to purchase" in plan.stdout, plan.stdout + plan.stderr
    applied = cli(tmp_path, "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert len(server.app.requests("POST")) == 4 and not server.app.requests("PATCH")
    check(tmp_path, world, unmanaged)
    assert set(server.app.app.auth_log) == {"hmac-sha1"}  # every request signed
    assert MM_API_SECRET not in applied.stdout + applied.stderr


def test_a_lost_state_file_is_rebuilt_from_the_labels_on_the_provider(tmp_path, world, server):
    unmanaged = set(world.numbers)
    write(tmp_path, server, AFTER)
    assert cli(tmp_path, "apply", "--auto-approve").returncode == 0
    (tmp_path / ".numbers-iac" / "state.sqlite").unlink()
    server.app.log.clear()
    plan = cli(tmp_path, "plan", "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout + plan.stderr  # the account matches: no change
    assert "No changes" in plan.stdout and "4 numbers are recognised" in plan.stdout
    drift = cli(tmp_path, "drift")
    assert drift.returncode == 0, drift.stdout + drift.stderr  # nothing drifted on the account
    recorded = json.loads(cli(tmp_path, "plan", "--format", "json").stdout)
    assert {a["kind"] for a in recorded["actions"]} == {"adopt"}  # the state's part
    assert all(a["recognised"] for a in recorded["actions"])
    adopted = cli(tmp_path, "apply", "--auto-approve")
    assert adopted.returncode == 0, adopted.stdout + adopted.stderr
    assert "Recorded 4 numbers the provider already shows" in adopted.stderr
    assert not [r for r in server.app.log if r.method != "GET"]  # nothing sent but reads
    check(tmp_path, world, unmanaged)
    assert len(bought_once(world.log)) == 4
    assert len(managed(tmp_path)["alpha"]) == 2  # the state holds them again


def test_a_wrong_secret_is_one_clear_error_line(tmp_path, server):
    write(tmp_path, server, AFTER)
    result = cli(tmp_path, "plan", MESSAGEMEDIA_API_SECRET="not-the-secret")
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "Invalid authentication credentials" in lines[0] and "401" in lines[0]
    assert "not-the-secret" not in result.stderr + result.stdout


def test_a_lost_buy_answer_with_a_failing_read_back_is_adopted_later(tmp_path, world, server):
    """The assignment happened, its answer was a 500, and reading the assigned list failed
    too: the attempt is held open, and the next apply adopts the number instead of buying."""
    unmanaged = set(world.numbers)

    def break_read_back(method: str, path: str) -> None:
        server.app.add(Fault(status=504, times=2, match="GET /v1/messaging/numbers/dedicated/as"))

    write(tmp_path, server, AFTER, settle="30s")
    server.app.add(Fault(status=500, then_fail=True, match=ASSIGN, on_request=break_read_back))
    first = cli(tmp_path, "apply", "--auto-approve")
    assert first.returncode == 1, first.stdout + first.stderr
    assert "may or may not have happened" in first.stdout + first.stderr
    second = cli(tmp_path, "apply", "--auto-approve")
    assert second.returncode == 0, second.stdout + second.stderr
    # the label written in the same call claims it; the open attempt is settled by it
    assert "settle an unresolved purchase (it bought" in second.stdout, second.stdout
    check(tmp_path, world, unmanaged)


def test_a_buy_that_lands_after_the_timeout_is_adopted_not_bought_again(tmp_path, world, server):
    """MessageMedia carries one assignment out 1.5 s after it arrived; the client gave up
    after 0.5 s and its read-back found nothing yet. The open attempt holds its number back;
    once the number lands, the next apply adopts it."""
    unmanaged = set(world.numbers)
    write(tmp_path, server, AFTER, timeout=0.5, settle="30s")
    server.app.add(Fault(status=None, delay=1.5, times=1, match=ASSIGN))
    first = cli(tmp_path, "apply", "--auto-approve")
    assert first.returncode == 1, first.stdout + first.stderr
    waiting = cli(tmp_path, "plan")
    assert "unresolved" in waiting.stdout, waiting.stdout
    deadline = time.monotonic() + 15
    while sum(1 for op, _ in world.log if op == "buy") < 1:  # the late assignment lands
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(0.3)
    converge(tmp_path, 0)
    check(tmp_path, world, unmanaged, replan=False)


def test_a_number_taken_between_search_and_buy_is_replaced(tmp_path, world, server):
    """Someone else assigns the first number offered: the 409 is checked against the
    assigned list, then another number is bought."""
    unmanaged = set(world.numbers)
    taken: list[str] = []

    def someone_else(method: str, path: str) -> None:
        number = server.app.app.ids[path.split("/")[-2]]
        world.take(number)
        taken.append(number)

    write(tmp_path, server, AFTER)
    server.app.add(Fault(status=None, times=1, match=ASSIGN, on_request=someone_else))
    applied = cli(tmp_path, "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert [r.status for r in server.app.requests("POST")].count(409) == 1
    assert taken and taken[0] not in world.numbers
    check(tmp_path, world, unmanaged)
