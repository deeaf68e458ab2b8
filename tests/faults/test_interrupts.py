"""SIGTERM and Ctrl-C during a batch of releases, over loopback with the CLI in a subprocess:
the calls in flight finish and are recorded, no more start, the exit code and the summary
say the apply was interrupted."""

from __future__ import annotations

import signal
import time

import pytest

from numbers_iac.emulators.faults import Fault
from numbers_iac.emulators.serve import serve
from numbers_iac.simulation import World
from tests.faults.cli import AUTH_ID, AUTH_TOKEN, cli, managed, start, wait

CONFIG = """\
version: 1
providers:
  plivo-eu:
    type: plivo
    base_url: {base_url}
    auth_id: ${{PLIVO_AUTH_ID}}
    auth_token: ${{PLIVO_AUTH_TOKEN}}
    rate_limit: [100000, 1]
numbers:
  bulk:
    provider: plivo-eu
    country: FR
    region: PARIS, FRANCE
    quantity: {quantity}
"""
COUNT = 40


@pytest.mark.parametrize(("signals", "exit_code"), [(1, 1), (2, 130)])
def test_a_signal_during_a_release_batch_starts_no_more_releases(tmp_path, signals, exit_code):
    world = World.from_seed({})
    server = serve("plivo", world, auth_id=AUTH_ID, auth_token=AUTH_TOKEN)
    try:
        config = tmp_path / "numbers.yaml"
        config.write_text(CONFIG.format(base_url=server.url, quantity=COUNT))
        assert cli(tmp_path, "apply", "--auto-approve").returncode == 0
        config.write_text(CONFIG.format(base_url=server.url, quantity=0))
        slow = server.app.add(Fault(status=None, delay=0.5, times=10**6, match="DELETE "))
        process = start(tmp_path, "apply", "--auto-approve", "--allow-release")
        deadline = time.monotonic() + 60
        while not slow.seen:  # the first release has reached the provider
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.02)
        for _ in range(signals):
            process.send_signal(signal.SIGTERM)
            time.sleep(0.05)
        out, err = wait(process)
        assert process.returncode == exit_code, out + err
        assert "Traceback" not in err
        released = sum(1 for op, _ in world.log if op == "release")
        assert 0 < released <= 10, f"{released} of {COUNT} released after the signal"
        if exit_code == 1:
            assert "Apply interrupted" in out and "not started" in out
        time.sleep(0.6)  # a call cut off by the second signal lands at the provider
        still = set(managed(tmp_path).get("bulk", []))
        gone = still - set(world.numbers)  # released, but the answer was cut off
        assert len(still) - len(gone) == COUNT - released
        if exit_code == 1:
            assert not gone  # the calls in flight finished and were recorded
        rest = cli(tmp_path, "plan")
        assert f"0 to purchase, 0 to update, {COUNT - released} to release" in rest.stdout
        assert rest.stdout.count(
            "was being released by an apply that was interrupted or lost"
        ) == len(gone)
    finally:
        server.shutdown()
