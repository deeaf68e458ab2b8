"""The state's own safety, over loopback with the CLI in subprocesses: one lock per state
file whatever path reaches it, a vanished managed number is drift (exit 2, never replaced),
and an interrupted release is settled instead of lingering."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from numbers_iac.emulators.faults import Fault
from numbers_iac.emulators.serve import serve
from numbers_iac.simulation import World
from tests.faults.cli import AUTH_ID, AUTH_TOKEN, BUY, cli, managed, start, wait

CONFIG = """\
version: 1
state:
  path: {state}
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
"""


def write(directory: Path, base_url: str, quantity: int, state: str = "state.sqlite") -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "numbers.yaml").write_text(
        CONFIG.format(base_url=base_url, quantity=quantity, state=state)
    )


def test_two_configs_reaching_one_state_through_a_symlink_never_apply_at_once(tmp_path):
    world = World.from_seed({})
    server = serve("plivo", world, auth_id=AUTH_ID, auth_token=AUTH_TOKEN)
    try:
        real = tmp_path / "shared" / "state.sqlite"
        write(tmp_path / "team-a", server.url, 3, str(real))
        assert cli(tmp_path / "team-a", "plan").returncode == 0  # creates the state file
        (tmp_path / "team-b").mkdir()
        (tmp_path / "team-b" / "alias.sqlite").symlink_to(real)
        write(tmp_path / "team-b", server.url, 3, "alias.sqlite")
        slow = server.app.add(Fault(status=None, delay=1.0, times=10**6, match=BUY))
        first = start(tmp_path / "team-a", "apply", "--auto-approve")
        deadline = time.monotonic() + 30
        while not slow.seen:
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.02)
        second = cli(tmp_path / "team-b", "apply", "--auto-approve")
        assert second.returncode == 1 and "locked" in second.stderr, second.stdout + second.stderr
        out, err = wait(first)
        assert first.returncode == 0, out + err
        assert sum(1 for op, _ in world.log if op == "buy") == 3
    finally:
        server.shutdown()


def test_a_managed_number_released_elsewhere_is_drift_not_a_purchase(tmp_path):
    world = World.from_seed({})
    server = serve("plivo", world, auth_id=AUTH_ID, auth_token=AUTH_TOKEN)
    try:
        write(tmp_path, server.url, 2)
        assert cli(tmp_path, "apply", "--auto-approve").returncode == 0
        gone = sorted(world.numbers)[0]
        world.release(gone)  # someone released it in the provider's console
        plan = cli(tmp_path, "plan", "--detailed-exitcode")
        assert plan.returncode == 2, plan.stdout + plan.stderr
        assert "1 managed number missing" in plan.stdout and gone in plan.stdout
        assert "No changes to apply" in plan.stdout and "to purchase" not in plan.stdout
        markdown = cli(tmp_path, "plan", "--format", "markdown")
        assert "| Managed numbers missing (drift) | 1 |" in markdown.stdout
        accepted = cli(tmp_path, "plan", "--accept-missing", "support")
        assert "1 to purchase" in accepted.stdout
    finally:
        server.shutdown()


def test_an_interrupted_release_that_never_happened_is_settled_and_kept(tmp_path):
    """Killed while its DELETE was on the way (Plivo never got it): the next plan closes
    the release, the number stays managed, and if it vanishes later it is drift."""
    world = World.from_seed({})
    server = serve("plivo", world, auth_id=AUTH_ID, auth_token=AUTH_TOKEN)
    victim: dict = {}

    def kill_before_the_provider_acts(method: str, path: str) -> None:
        victim["process"].send_signal(signal.SIGKILL)
        victim["process"].wait()

    try:
        write(tmp_path, server.url, 2)
        assert cli(tmp_path, "apply", "--auto-approve").returncode == 0
        write(tmp_path, server.url, 1)
        server.app.add(
            Fault(status=503, times=1, match="DELETE ", on_request=kill_before_the_provider_acts)
        )
        victim["process"] = start(tmp_path, "apply", "--auto-approve", "--allow-release")
        wait(victim["process"])
        assert victim["process"].returncode == -signal.SIGKILL
        assert len(world.numbers) == 2  # nothing was released

        write(tmp_path, server.url, 2)  # the user changes their mind
        plan = cli(tmp_path, "plan")
        assert (
            "settle an interrupted release" in plan.stdout and "still on the account" in plan.stdout
        )
        assert cli(tmp_path, "apply", "--auto-approve").returncode == 0
        assert len(managed(tmp_path)["support"]) == 2
        assert cli(tmp_path, "plan", "--detailed-exitcode").returncode == 0

        world.release(sorted(world.numbers)[0])  # later, released elsewhere
        drift = cli(tmp_path, "plan", "--detailed-exitcode")
        assert drift.returncode == 2 and "to purchase" not in drift.stdout, drift.stdout
        assert "1 managed number missing" in drift.stdout
    finally:
        server.shutdown()
