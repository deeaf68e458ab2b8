"""Stock and provider-side problems as a user meets them: the CLI in a subprocess, Plivo's
emulator on a loopback socket (and the sandbox on disk). One plan warns once for a location
several declarations draw on, and names every problem of the configuration in one run."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from numbers_iac.emulators.serve import RunningServer, serve
from numbers_iac.simulation import World
from tests.faults.cli import AUTH_ID, AUTH_TOKEN, cli

PROVIDERS = {
    "plivo": """\
  eu:
    type: plivo
    base_url: {base_url}
    auth_id: ${{PLIVO_AUTH_ID}}
    auth_token: ${{PLIVO_AUTH_TOKEN}}
""",
    "sandbox": """\
  eu:
    type: sandbox
""",
}

SHARED_STOCK = """\
  support-fr:
    provider: eu
    country: FR
    type: local
    region: AMIENS, FRANCE
    quantity: 5000
  sales-fr:
    provider: eu
    country: FR
    type: local
    region: AMIENS, FRANCE
    quantity: 2
"""

EVERY_PROBLEM = """\
  atlantis:
    provider: eu
    country: FR
    type: local
    region: Atlantis
    quantity: 1
  bad-prefix:
    provider: eu
    country: FR
    type: local
    prefix: "999"
    quantity: 1
  no-app:
    provider: eu
    country: FR
    type: local
    region: Lyon
    quantity: 1
    app: no-such-app
  fine:
    provider: eu
    country: FR
    type: local
    region: Paris
    quantity: 1
"""


@pytest.fixture
def world() -> World:
    return World.from_seed({"apps": ["support-ivr"]})


@pytest.fixture(params=sorted(PROVIDERS))
def kind(request) -> str:
    return request.param


@pytest.fixture
def server(world) -> Iterator[RunningServer]:
    running = serve("plivo", world, auth_id=AUTH_ID, auth_token=AUTH_TOKEN)
    try:
        yield running
    finally:
        running.shutdown()


def write_config(tmp_path: Path, kind: str, server: RunningServer, numbers: str) -> str:
    provider = PROVIDERS[kind].format(base_url=server.url)
    if kind == "sandbox":  # the same catalogue the emulator sells from, with the same app
        provider += f"    data: {tmp_path / 'sandbox.json'}\n    apps: [support-ivr]\n"
    text = "version: 1\nproviders:\n" + provider + "numbers:\n" + numbers
    (tmp_path / "numbers.yaml").write_text(text)
    return text


def located(text: str, key: str, declaration: str) -> int:
    """The line of `key:` inside one declaration."""
    lines = text.splitlines()
    start = lines.index(f"  {declaration}:")
    return next(i for i, line in enumerate(lines[start:], start + 1) if f" {key}:" in line)


def test_shared_stock_warns_once_with_the_total(tmp_path, kind, server):
    write_config(tmp_path, kind, server, SHARED_STOCK)
    plan = cli(tmp_path, "plan", "--detailed-exitcode")
    assert plan.returncode == 2, plan.stdout + plan.stderr
    output = plan.stdout + plan.stderr
    warned = [line for line in output.splitlines() if "for sale" in line]
    assert len(warned) == 1, output
    assert (
        "support-fr wants 5,000 and sales-fr 2 at FR local, region AMIENS, FRANCE: "
        "5,002 wanted, 900 for sale" in warned[0]
    ), output


def test_one_plan_names_every_provider_side_problem(tmp_path, kind, server, world):
    if kind == "sandbox":  # the sandbox's config check knows its apps: only the plan can tell
        numbers = EVERY_PROBLEM.replace("app: no-such-app", "app: support-ivr")
    else:
        numbers = EVERY_PROBLEM
    text = write_config(tmp_path, kind, server, numbers)
    plan = cli(tmp_path, "plan")
    assert plan.returncode == 1, plan.stdout + plan.stderr
    errors = [line for line in plan.stderr.splitlines() if line.startswith("error: ")]
    config = re.escape("numbers.yaml")  # as the user named it (the default, here)
    expected = [("atlantis", "region"), ("bad-prefix", "prefix")]
    if kind == "plivo":
        expected.append(("no-app", "app"))
    assert len(errors) == len(expected), plan.stderr
    for line, (name, key) in zip(errors, expected, strict=True):
        at = located(text, key, name)
        assert re.match(rf"error: {config}:{at}:\d+: numbers\.{name}\.{key}: ", line), line
    atlantis, bad_prefix = errors[0], errors[1]
    assert "Regions for sale: AMIENS, FRANCE; LYON, FRANCE; MARSEILLE, FRANCE; PARIS, FRANCE" in (
        atlantis
    )
    assert "Prefixes for sale: 1 (PARIS, FRANCE); 322 (AMIENS, FRANCE); 472 (LYON" in bad_prefix
    if kind == "plivo":
        assert "no-such-app" in errors[2]
        assert not [op for op, _ in world.log if op == "buy"]
