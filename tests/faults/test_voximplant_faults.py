"""Voximplant over a loopback socket with the CLI in a subprocess: plan, apply, plan -> "No
changes"; a wrong key is one error line; a buy whose answer is lost and one that lands
after the client gave up (the kill after each mutating request of a mixed plan is in the
fault matrix, tests/faults/matrix.py). Each ends with the account holding exactly what is
declared, nothing unmanaged, every number bought once."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from numbers_iac.emulators.faults import Fault
from numbers_iac.emulators.serve import RunningServer, serve
from numbers_iac.emulators.voximplant import generate_service_account
from numbers_iac.simulation import World
from tests.faults.cli import add_secret, bought_once, cli, converge, managed

ATTACH = "POST /platform_api/AttachPhoneNumber"
PROVIDER = """\
version: 1
providers:
  vox:
    type: voximplant
    base_url: {base_url}
    credentials: vox-key.json
    timeout: {timeout}
    settle_time: {settle}
    max_retries: 1
"""
AFTER = """\
numbers:
  alpha:
    provider: vox
    country: FR
    region: AMIENS, FRANCE
    quantity: 2
    app: sales-bot
    labels: {team: b}
  beta:
    provider: vox
    country: FR
    region: PARIS, FRANCE
    quantity: 2
    app: support-ivr
"""


@pytest.fixture(scope="module")
def key() -> dict:
    account = generate_service_account("1000001")
    add_secret(account["private_key"][60:120])
    return account


@pytest.fixture
def world() -> World:
    return World.from_seed({"apps": ["support-ivr", "sales-bot"], "owned": 2})


@pytest.fixture
def server(world, key) -> Iterator[RunningServer]:
    running = serve("voximplant", world, service_account=key)
    try:
        yield running
    finally:
        running.shutdown()


def write(tmp_path: Path, server, key, numbers: str, timeout=10, settle="0.5s") -> None:
    (tmp_path / "vox-key.json").write_text(json.dumps(key))
    provider = PROVIDER.format(base_url=server.url, timeout=timeout, settle=settle)
    (tmp_path / "numbers.yaml").write_text(provider + numbers)


def test_plan_apply_plan_converges_over_loopback(tmp_path, world, server, key):
    write(tmp_path, server, key, AFTER)
    plan = cli(tmp_path, "plan")
    assert plan.returncode == 0 and "to purchase" in plan.stdout, plan.stdout + plan.stderr
    applied = cli(tmp_path, "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    again = cli(tmp_path, "plan", "--detailed-exitcode")
    assert again.returncode == 0 and "No changes" in again.stdout, again.stdout + again.stderr
    assert len(bought_once(world.log)) == 4
    assert key["private_key"][40:80] not in applied.stdout + applied.stderr
    inventory = cli(tmp_path, "inventory", "vox", "--country", "US")
    assert inventory.returncode == 0, inventory.stdout + inventory.stderr
    assert "San Francisco" in inventory.stdout and "833" in inventory.stdout


def test_a_wrong_key_is_one_clear_error_line(tmp_path, server, key):
    forged = {**generate_service_account("1000001"), "key_id": key["key_id"]}
    write(tmp_path, server, forged, AFTER)
    result = cli(tmp_path, "plan")
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "Authorization failed (code 100)" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert forged["private_key"][40:80] not in result.stderr + result.stdout


@pytest.mark.parametrize("shape", ["quoted-json", "pem-only"])
def test_key_material_in_the_wrong_shape_is_one_line_that_never_quotes_it(tmp_path, key, shape):
    """The key file's JSON pasted with quotes (as a .env file has it), or the PEM alone, in
    the variable `credentials` names: not a path to print."""
    value = f"'{json.dumps(key)}'" if shape == "quoted-json" else key["private_key"]
    config = PROVIDER.format(base_url="http://127.0.0.1:9", timeout=5, settle="0.5s")
    config = config.replace("vox-key.json", "${VOX_KEY_JSON}")
    (tmp_path / "numbers.yaml").write_text(config + AFTER)
    result = cli(tmp_path, "plan", VOX_KEY_JSON=value)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "neither a readable key file" in lines[0], result.stderr
    assert "PRIVATE" not in result.stderr + result.stdout
    assert key["private_key"][40:80] not in result.stderr + result.stdout


def test_a_lost_buy_answer_with_a_failing_read_back_is_adopted_later(tmp_path, world, server, key):
    """The attach happened, its answer was a 500, and reading the number back failed too:
    the attempt is held open, and the next apply adopts the number instead of buying."""
    unmanaged = set(world.numbers)

    def break_read_back(method: str, path: str) -> None:
        server.app.add(Fault(status=500, times=2, match="GetPhoneNumbers"))

    write(tmp_path, server, key, AFTER, settle="30s")
    server.app.add(Fault(status=500, then_fail=True, match=ATTACH, on_request=break_read_back))
    first = cli(tmp_path, "apply", "--auto-approve")
    assert first.returncode == 1, first.stdout + first.stderr
    assert "may or may not have happened" in first.stdout + first.stderr
    # never resent: the lost one stops its declaration (its partner went alongside it, at
    # once), the other declaration buys its two
    assert len(server.app.requests("POST", "AttachPhoneNumber")) == 4
    second = cli(tmp_path, "apply", "--auto-approve")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "bought by an interrupted apply" in second.stdout
    converge(tmp_path, 0)
    assert len(bought_once(world.log)) == 4
    assert set(world.numbers) - unmanaged == {n for ns in managed(tmp_path).values() for n in ns}


def test_a_buy_that_lands_after_the_timeout_is_adopted_not_bought_again(
    tmp_path, world, server, key
):
    """Voximplant carries one attach out 4 s after it arrived; the client gave up after
    1 s and its read-back found nothing yet. The open attempt holds its number back; once
    the number lands, the next apply adopts it."""
    unmanaged = set(world.numbers)
    write(tmp_path, server, key, AFTER, timeout=1, settle="30s")
    server.app.add(Fault(status=None, delay=4, times=1, match=ATTACH))
    first = cli(tmp_path, "apply", "--auto-approve")
    assert first.returncode == 1, first.stdout + first.stderr
    waiting = cli(tmp_path, "plan")
    assert "unresolved" in waiting.stdout, waiting.stdout
    deadline = time.monotonic() + 15
    # the other declaration bought its two and this one the attach sent alongside the late
    # one (at once); the late attach makes four when it lands
    while sum(1 for op, _ in world.log if op == "buy") < 4:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(0.3)
    runs = converge(tmp_path, 0)
    assert any("bought by an interrupted apply" in run.stdout for run in runs)
    assert len(bought_once(world.log)) == 4
    state = managed(tmp_path)
    assert sorted(len(v) for v in state.values()) == [2, 2]
    assert set(world.numbers) == unmanaged | {n for ns in state.values() for n in ns}
