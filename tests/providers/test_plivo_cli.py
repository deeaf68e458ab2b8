"""Plivo end to end, as a user rehearses it: `numbers-iac emulator plivo` on a loopback port in
one process, the CLI in others, a YAML config whose `base_url` points at the emulator."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.cli import AUTH_ID, AUTH_TOKEN, cli, cli_env

CONFIG = """\
version: 1
providers:
  plivo-eu:
    type: plivo
    base_url: {base_url}
    auth_id: ${{PLIVO_AUTH_ID}}
    auth_token: ${{PLIVO_AUTH_TOKEN}}
numbers:
  support-fr:
    provider: plivo-eu
    country: FR
    type: local
    region: AMIENS, FRANCE
    quantity: {quantity}
    app: support-ivr
    labels: {{team: support}}
"""


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[str]:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"apps": ["support-ivr", "sales-bot"], "owned": 2}))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "numbers_iac",
            "emulator",
            "plivo",
            "--port",
            "0",
            "--seed-file",
            str(seed),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    try:
        banner = process.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+)", banner)
        assert match, banner + process.stderr.read()
        yield match.group(1)
    finally:
        process.terminate()
        process.wait(timeout=10)


def numbers_in(output: str) -> set[str]:
    return set(re.findall(r"\+\d{10,15}", output))


def test_plan_apply_converge_and_release_exactly_the_surplus(tmp_path, emulator):
    config = tmp_path / "numbers.yaml"
    config.write_text(CONFIG.format(base_url=emulator, quantity=3))

    plan = cli(tmp_path, "plan", "--detailed-exitcode")
    assert plan.returncode == 2, plan.stderr
    assert "3 to purchase" in plan.stdout
    assert re.search(r"\$\d+\.\d\d/month", plan.stdout), plan.stdout  # priced from the search
    assert "2 numbers on plivo-eu are not managed" in plan.stdout or "not managed" in plan.stdout

    applied = cli(tmp_path, "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "3 purchased" in applied.stdout

    again = cli(tmp_path, "plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "No changes" in again.stdout

    state = json.loads(cli(tmp_path, "state", "list", "--format", "json").stdout)
    managed = {row["number"] for row in state["numbers"]}
    assert len(managed) == 3

    config.write_text(CONFIG.format(base_url=emulator, quantity=1))
    refused = cli(tmp_path, "apply", "--auto-approve")
    assert refused.returncode == 3 and "--allow-release" in refused.stderr
    released = cli(tmp_path, "apply", "--auto-approve", "--allow-release")
    assert released.returncode == 0, released.stdout + released.stderr
    release_lines = [
        line for line in released.stdout.splitlines() if line.strip().startswith("- +")
    ]
    gone = numbers_in("\n".join(release_lines))
    assert len(gone) == 2 and gone <= managed

    after = json.loads(cli(tmp_path, "state", "list", "--format", "json").stdout)
    assert {row["number"] for row in after["numbers"]} == managed - gone
    final = cli(tmp_path, "plan", "--detailed-exitcode")
    assert final.returncode == 0 and "No changes" in final.stdout
    # the two numbers the account had before are still there, untouched
    assert "not managed" in final.stdout


def test_wrong_credentials_give_one_line_without_the_secret(tmp_path, emulator):
    (tmp_path / "numbers.yaml").write_text(CONFIG.format(base_url=emulator, quantity=1))
    result = cli(tmp_path, "plan", PLIVO_AUTH_TOKEN="definitely-wrong-token")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "plivo-eu" in lines[0] and "401" in lines[0]
    assert "definitely-wrong-token" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_emulator_banner_never_prints_a_token_from_the_environment(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "numbers_iac", "emulator", "plivo", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    try:
        banner = "".join(process.stdout.readline() for _ in range(3))
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert "127.0.0.1" in banner and AUTH_ID in banner
    assert AUTH_TOKEN not in banner and "$PLIVO_AUTH_TOKEN" in banner


def test_no_credential_in_outputs_plan_files_or_state(tmp_path, emulator):
    """The token may appear nowhere the tool writes: stdout, stderr, plan file, state, sandbox."""
    (tmp_path / "numbers.yaml").write_text(CONFIG.format(base_url=emulator, quantity=2))
    outputs = [
        cli(tmp_path, "plan", "-out", "plan.json"),
        cli(tmp_path, "plan", "--format", "json"),
        cli(tmp_path, "plan", "--format", "markdown"),
        cli(tmp_path, "apply", "plan.json"),
        cli(tmp_path, "state", "list"),
        cli(tmp_path, "plan", PLIVO_AUTH_TOKEN="another-wrong-token"),
    ]
    assert outputs[3].returncode == 0, outputs[3].stderr
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".sqlite" for p in written) and any(
        p.name == "plan.json" for p in written
    )
    for secret in (AUTH_TOKEN, "another-wrong-token"):
        for result in outputs:
            assert secret not in result.stdout + result.stderr
        for path in written:
            assert secret.encode() not in path.read_bytes(), path


def test_ctrl_c_finishes_the_call_in_flight_records_it_and_stops(tmp_path):
    """Interrupting an apply mid-purchase: what the provider sold is in the state, the rest is
    reported as not started, and the next plan buys only the remainder."""
    import signal
    import time

    from numbers_iac.emulators.faults import Fault
    from numbers_iac.emulators.serve import serve
    from numbers_iac.simulation import World

    world = World.from_seed({"apps": ["support-ivr"]})
    server = serve("plivo", world, auth_id=AUTH_ID, auth_token=AUTH_TOKEN)
    try:
        server.app.add(Fault(status=None, delay=0.4, times=10**6, match="POST /v1/Account/"))
        config = tmp_path / "numbers.yaml"
        config.write_text(CONFIG.format(base_url=server.url, quantity=6))
        process = subprocess.Popen(
            [sys.executable, "-m", "numbers_iac", "apply", "--auto-approve"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(),
        )
        deadline = time.monotonic() + 30
        while not any(r.method == "POST" for r in server.app.log):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
        assert process.returncode == 1, out + err
        assert "Interrupted" in err and "Traceback" not in err
        sold = {number for op, number in world.log if op == "buy"}
        state = json.loads(cli(tmp_path, "state", "list", "--format", "json").stdout)
        assert {row["number"] for row in state["numbers"]} == sold and sold
        rest = cli(tmp_path, "plan")
        assert f"{6 - len(sold)} to purchase" in rest.stdout
    finally:
        server.shutdown()


# kill -9 at every mutation of a mixed plan: tests/faults/test_crash_matrix.py
