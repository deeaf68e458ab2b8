"""Renaming is not releasing, as a user meets it: the CLI in a subprocess, Plivo over a
loopback socket and the README's worked example on the sandbox."""

from __future__ import annotations

import json
import re
from pathlib import Path

from numbers_iac.emulators.serve import serve
from numbers_iac.simulation import World
from tests.faults.cli import AUTH_ID, AUTH_TOKEN, cli, managed

PLIVO = """\
version: 1
providers:
  plivo-eu:
    type: plivo
    base_url: {base_url}
    auth_id: ${{PLIVO_AUTH_ID}}
    auth_token: ${{PLIVO_AUTH_TOKEN}}
    rate_limit: [100000, 1]
numbers:
  {name}:
    provider: plivo-eu
    country: FR
    region: AMIENS, FRANCE
    quantity: 2
    labels: {{team: support}}
{extra}"""


def test_renaming_a_plivo_declaration_moves_its_numbers(tmp_path):
    world = World.from_seed({"owned": 1})
    server = serve("plivo", world, auth_id=AUTH_ID, auth_token=AUTH_TOKEN)
    config = tmp_path / "numbers.yaml"
    try:
        config.write_text(PLIVO.format(base_url=server.url, name="support", extra=""))
        assert cli(tmp_path, "apply", "--auto-approve").returncode == 0
        numbers = sorted(managed(tmp_path)["support"])

        config.write_text(PLIVO.format(base_url=server.url, name="support-fr", extra=""))
        plan = cli(tmp_path, "plan", "--detailed-exitcode")
        assert plan.returncode == 2
        assert "0 to purchase, 0 to update, 0 to release, 2 to move" in plan.stdout, plan.stdout
        assert "looks like a rename" in plan.stdout and "moved_from: [support]" in plan.stdout
        refused = cli(tmp_path, "apply", "--auto-approve", "--allow-release")
        assert refused.returncode == 3, refused.stdout + refused.stderr
        assert "support-fr looks like support renamed" in refused.stderr
        assert sorted(world.numbers) == sorted([*numbers, *world.numbers][-3:])  # untouched

        indented = "    moved_from: [support]\n"
        config.write_text(PLIVO.format(base_url=server.url, name="support-fr", extra="") + indented)
        applied = cli(tmp_path, "apply", "--auto-approve")
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert sorted(managed(tmp_path)["support-fr"]) == numbers
        assert {world.numbers[n].alias for n in numbers} == {"support-fr"}  # the tag follows
        assert not [op for op, _ in world.log if op in ("buy", "release")][2:]
        final = cli(tmp_path, "plan", "--detailed-exitcode")
        assert final.returncode == 0, final.stdout
    finally:
        server.shutdown()


def test_replace_releases_and_buys_only_when_asked(tmp_path):
    world = World.from_seed({})
    server = serve("plivo", world, auth_id=AUTH_ID, auth_token=AUTH_TOKEN)
    config = tmp_path / "numbers.yaml"
    try:
        config.write_text(PLIVO.format(base_url=server.url, name="support", extra=""))
        assert cli(tmp_path, "apply", "--auto-approve").returncode == 0
        old = set(world.numbers)
        config.write_text(PLIVO.format(base_url=server.url, name="support-fr", extra=""))
        replaced = cli(
            tmp_path, "apply", "--auto-approve", "--allow-release", "--replace", "support"
        )
        assert replaced.returncode == 0, replaced.stdout + replaced.stderr
        assert not old & set(world.numbers) and len(world.numbers) == 2
    finally:
        server.shutdown()


def test_state_forget_stops_managing_without_releasing(tmp_path):
    world = World.from_seed({})
    server = serve("plivo", world, auth_id=AUTH_ID, auth_token=AUTH_TOKEN)
    config = tmp_path / "numbers.yaml"
    try:
        config.write_text(PLIVO.format(base_url=server.url, name="support", extra=""))
        assert cli(tmp_path, "apply", "--auto-approve").returncode == 0
        still = cli(tmp_path, "state", "forget", "support")
        assert still.returncode == 1 and "still declared" in still.stderr
        config.write_text(
            "version: 1\n"
            + PLIVO.split("numbers:")[0].split("\n", 1)[1].format(base_url=server.url)
            + "numbers: {}\n"
        )
        forgot = cli(tmp_path, "state", "forget", "support")
        assert forgot.returncode == 0, forgot.stdout + forgot.stderr
        assert "2 numbers no longer managed; nothing was released" in forgot.stdout
        assert "a declaration given that name later adopts them again" in forgot.stderr
        assert managed(tmp_path) == {} and len(world.numbers) == 2
        plan = cli(tmp_path, "plan", "--detailed-exitcode")
        assert plan.returncode == 0 and "2 numbers on plivo-eu are not managed" in plan.stdout
        unknown = cli(tmp_path, "state", "forget", "nothing-here")
        assert unknown.returncode == 1 and unknown.stderr.startswith("error: ")
    finally:
        server.shutdown()


def readme_example() -> str:
    text = (Path(__file__).parents[2] / "README.md").read_text()
    return re.search(r"`numbers.yaml`:\n\n```yaml\n(.*?)```", text, re.S).group(1)


def test_renaming_in_the_readme_worked_example_plans_a_move(tmp_path):
    yaml = readme_example().replace("../schemas", "schemas")
    (tmp_path / "numbers.yaml").write_text(yaml)
    assert cli(tmp_path, "apply", "--auto-approve").returncode == 0
    (tmp_path / "numbers.yaml").write_text(yaml.replace("support-fr:", "support-amiens:"))
    plan = cli(tmp_path, "plan")
    assert "~ move" in plan.stdout or "move from support-fr" in plan.stdout, plan.stdout
    assert "0 to purchase, 0 to update, 0 to release, 2 to move" in plan.stdout
    saved = cli(tmp_path, "plan", "-out", "p.json")  # no hint to apply what apply refuses
    assert "Saved the plan to p.json. apply would refuse it as it stands: " in saved.stderr
    assert "numbers-iac apply p.json" not in saved.stderr
    confirmed = yaml.replace("support-fr:", "support-amiens:\n    moved_from: [support-fr]")
    (tmp_path / "numbers.yaml").write_text(confirmed)
    assert cli(tmp_path, "apply", "--auto-approve").returncode == 0
    state = json.loads(cli(tmp_path, "state", "list", "--format", "json").stdout)
    assert {r["declaration"] for r in state["numbers"]} == {"support-amiens", "hotline"}
    assert cli(tmp_path, "plan", "--detailed-exitcode").returncode == 0
