"""A kill -9 at every mutation of a mixed plan on the sandbox in each purchase mode
(specific, quantity, reserve). Every HTTP provider's kill matrix is in tests/faults/matrix.py.

The plan buys, tags, rebinds and releases. Whatever mutation the kill lands on, reruns end
with: every number bought once, exactly the declared quantities managed, nothing released
that the plan did not release, every app binding right, and a plan with no changes.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from numbers_iac.simulation import World
from tests.faults.cli import (
    bought_once,
    cli,
    converge,
    managed,
    start,
    wait,
)

PROVIDER = {
    # In-process, a sandbox purchase is on disk before the kill or not at all: nothing can
    # land later, so an attempt the account does not show is settled at once.
    "sandbox": """\
  acct:
    type: sandbox
    apps: [support-ivr, sales-bot]
    purchase_mode: {mode}
    settle_time: 0
""",
}
BEFORE = """\
numbers:
  alpha:
    provider: acct
    country: FR
    region: AMIENS, FRANCE
    quantity: 3
    app: support-ivr
    labels: {team: a}
  old:
    provider: acct
    country: FR
    region: AMIENS, FRANCE
    quantity: 1
"""
AFTER = """\
numbers:
  alpha:
    provider: acct
    country: FR
    region: AMIENS, FRANCE
    quantity: 2
    app: sales-bot
    labels: {team: b}
  beta:
    provider: acct
    country: FR
    region: PARIS, FRANCE
    quantity: 2
    app: support-ivr
"""
WANTED = {"alpha": ("sales-bot", 2), "beta": ("support-ivr", 2)}
#: saved sandbox mutations: the buys (one per number, one blind order, or a reservation and
#: its purchase), one batch rebind, one batch release
SANDBOX_MUTATIONS = {"specific": 4, "quantity": 3, "reserve": 4}


def write(tmp_path: Path, provider: str, numbers: str) -> None:
    (tmp_path / "numbers.yaml").write_text(f"version: 1\nproviders:\n{provider}{numbers}")


def prepare(tmp_path: Path, provider: str) -> set[str]:
    """Apply the first configuration, switch to the second, and return the numbers its plan
    releases (the only ones any later apply may release)."""
    write(tmp_path, provider, BEFORE)
    first = cli(tmp_path, "apply", "--auto-approve")
    assert first.returncode == 0, first.stdout + first.stderr
    write(tmp_path, provider, AFTER)
    plan = json.loads(cli(tmp_path, "plan", "--format", "json").stdout)
    releases = {a["number"] for a in plan["actions"] if a["kind"] == "release"}
    assert len(releases) == 2
    return releases


def check(tmp_path: Path, world: World, unmanaged: set[str], releases: set[str]) -> None:
    bought_once(world.log)
    released = {number for op, number in world.log if op == "release"}
    assert released <= releases, f"released {released - releases}, which no plan released"
    state = managed(tmp_path)
    assert set(state) == set(WANTED), state
    apps = {name: app_id for app_id, name in world.apps.items()}
    for declaration, (app, quantity) in WANTED.items():
        numbers = state[declaration]
        assert len(numbers) == quantity, (declaration, numbers)
        assert {world.numbers[n].app_id for n in numbers} == {apps[app]}
        assert {world.numbers[n].alias for n in numbers} == {declaration}
    assert set(world.numbers) == unmanaged | {n for ns in state.values() for n in ns}


@pytest.mark.parametrize("mode", sorted(SANDBOX_MUTATIONS))
def test_sandbox_kill_at_every_mutation(tmp_path_factory, mode):
    kills = 0
    for kill_at in range(1, 30):
        tmp_path = tmp_path_factory.mktemp(f"{mode}-{kill_at}")
        account = tmp_path / ".numbers-iac" / "sandbox-acct.json"
        seed = World.from_seed({"apps": ["support-ivr", "sales-bot"], "owned": 2})
        seed.save(account)
        unmanaged = set(seed.numbers)
        provider = PROVIDER["sandbox"].format(mode=mode)
        releases = prepare(tmp_path, provider)
        process = start(
            tmp_path,
            "apply",
            "--auto-approve",
            "--allow-release",
            NUMBERS_IAC_SANDBOX_KILL_AFTER=str(kill_at),
        )
        out, err = wait(process)
        if process.returncode != -signal.SIGKILL:
            assert process.returncode == 0, out + err  # past the last mutation: a plain apply
            break
        kills += 1
        converge(tmp_path, 0, "--allow-release")
        check(tmp_path, World.load(account), unmanaged, releases)
    assert kills == SANDBOX_MUTATIONS[mode], f"{kills} mutations in the {mode} plan"
