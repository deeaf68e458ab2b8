"""A release whose answer is lost after the provider acted (the connection dropped, every
retry too), over a loopback socket with the CLI in a subprocess: the apply reports the
failure, its journal entry stays open, and the next plan settles it from the listing
instead of reading the numbers it released as missing."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from numbers_iac.emulators.faults import Fault
from numbers_iac.emulators.serve import RunningServer, serve
from numbers_iac.simulation import World
from tests.faults.cli import AUTH_ID, AUTH_TOKEN, cli, managed
from tests.faults.test_plivo_purchase_faults import CONFIG


@pytest.fixture
def account(tmp_path) -> Iterator[tuple[World, RunningServer, Callable[[int], None]]]:
    """A Plivo emulator over loopback, and `declare(quantity)` writing the configuration."""
    world = World.from_seed({"apps": ["support-ivr"]})
    server = serve("plivo", world, auth_id=AUTH_ID, auth_token=AUTH_TOKEN)
    settings = dict(base_url=server.url, timeout=5, settle=2.0, region="AMIENS, FRANCE")

    def declare(quantity: int) -> None:
        (tmp_path / "numbers.yaml").write_text(
            CONFIG.format(quantity=quantity, retries=1, **settings)
        )

    try:
        yield world, server, declare
    finally:
        server.shutdown()


def test_a_release_whose_answer_is_lost_is_settled_by_the_next_plan(tmp_path, account):
    world, server, declare = account
    declare(3)
    assert cli(tmp_path, "apply", "--auto-approve").returncode == 0
    assert len(world.numbers) == 3

    declare(1)
    server.app.add(Fault(then_fail=True, drop=True, times=100, match="DELETE "))
    lost = cli(tmp_path, "apply", "--auto-approve", "--allow-release")
    assert lost.returncode == 1, lost.stdout + lost.stderr
    assert "release" in lost.stdout + lost.stderr
    kept = sorted(world.numbers)
    assert len(kept) == 1  # Plivo released both; neither answer came back
    journal = json.loads(cli(tmp_path, "state", "journal", "--format", "json").stdout)
    releases = [e for e in journal if e["operation"] == "release"]
    assert releases and all(e["outcome"] == "unknown" for e in releases), releases

    plan = cli(tmp_path, "plan", "--detailed-exitcode")
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert "lost the answer, and the provider no longer lists it" in plan.stdout
    assert "--accept-missing" not in plan.stdout + plan.stderr
    settled = cli(tmp_path, "apply", "--auto-approve")
    assert settled.returncode == 0, settled.stdout + settled.stderr
    assert sorted(world.numbers) == kept  # nothing bought to replace them
    assert sorted(managed(tmp_path)["support-fr"]) == kept
    final = cli(tmp_path, "plan", "--detailed-exitcode")
    assert final.returncode == 0, final.stdout + final.stderr


def test_a_refused_release_leaves_a_saved_plan_stale_with_a_reason_and_converges(tmp_path, account):
    """Plivo refuses the release outright (403): the number is still listed, so the next
    plan keeps it managed and asks to release it again; the saved plan that failed is
    refused with the reason, not blamed on an order."""
    world, server, declare = account
    declare(2)
    assert cli(tmp_path, "apply", "--auto-approve").returncode == 0
    declare(1)
    assert cli(tmp_path, "plan", "-out", "p.json").returncode == 0
    server.app.add(Fault(status=403, times=1, match="DELETE "))
    failed = cli(tmp_path, "apply", "--allow-release", "p.json")
    assert failed.returncode == 1 and len(world.numbers) == 2
    again = cli(tmp_path, "apply", "--allow-release", "p.json")
    assert again.returncode == 1
    assert "an apply since left a purchase or release in doubt" in again.stderr
    plan = cli(tmp_path, "plan")
    assert "release" in plan.stdout and "IRREVERSIBLE" in plan.stdout
    done = cli(tmp_path, "apply", "--auto-approve", "--allow-release")
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(world.numbers) == 1
    assert sorted(managed(tmp_path)["support-fr"]) == sorted(world.numbers)
    assert cli(tmp_path, "plan", "--detailed-exitcode").returncode == 0
