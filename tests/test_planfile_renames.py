"""Regression (third review): saved plans after an interrupted release."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from numbers_iac.simulation import World
from numbers_iac.state.sqlite import SqliteStateStore

CONFIG = """\
version: 1
providers:
  lab:
    type: sandbox
    apps: [support-ivr, sales-bot]
numbers:
  support-fr:
    provider: lab
    country: FR
    type: local
    region: AMIENS, FRANCE
    quantity: {support_quantity}
    app: support-ivr
    labels: {{team: support}}
  hotline:
"""


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBERS_IAC_")}
    env["NO_COLOR"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "numbers_iac", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def sandbox_world(directory: Path) -> World:
    return World.load(directory / ".numbers-iac" / "sandbox-lab.json")


def test_saved_plan_with_a_settled_release_and_a_vanished_number_can_be_applied(tmp_path):
    """BUG: engine.check_fresh (engine.py, `accept_missing={a.declaration for a in
    plan.actions if isinstance(a, Forget)}`) treats every Forget in a saved plan as
    `--accept-missing`, but the planner also emits a Forget for a number whose interrupted
    release landed. When the same declaration also has a managed number missing from the
    listing (drift, deliberately NOT accepted), check_fresh recomputes the plan as if the
    user had accepted it (forgets it too) and refuses the saved plan as "edited". A CI
    pipeline of plan -out / apply FILE can then never apply; worse, the obvious way out is
    `--accept-missing`, which forgets the drifted number and buys a replacement. Fix: store
    the accepted names in the plan file (like `replaced`) instead of inferring them."""
    config = CONFIG.split("  hotline:")[0].format(support_quantity=3)
    (tmp_path / "numbers.yaml").write_text(config)
    assert run(tmp_path, "apply", "--auto-approve").returncode == 0
    data = tmp_path / ".numbers-iac" / "sandbox-lab.json"
    world = sandbox_world(tmp_path)
    landed, vanished, _kept = sorted(world.numbers)
    store = SqliteStateStore(tmp_path / ".numbers-iac" / "state.sqlite")
    store.journal_begin("x1", "release", "lab", "support-fr", {"numbers": [landed]})
    store.close()
    world.release(landed)  # the interrupted release landed
    world.release(vanished)  # released outside numbers-iac: drift
    world.save(data)
    (tmp_path / "numbers.yaml").write_text(config.replace("quantity: 3", "quantity: 2"))

    planned = run(tmp_path, "plan", "-out", "plan.json")
    assert planned.returncode == 0, planned.stderr
    assert "missing" in planned.stdout, planned.stdout
    applied = run(tmp_path, "apply", "plan.json")
    assert applied.returncode == 0, applied.stdout + applied.stderr


TWO = """\
version: 1
providers:
  lab:
    type: sandbox
numbers:
{body}"""
DECL = """\
  {name}:
    provider: lab
    country: FR
    type: local
    region: AMIENS, FRANCE
    quantity: 2
"""


def test_an_edited_plan_file_cannot_drop_the_ambiguous_move_refusal(tmp_path):
    """BUG: when removed `support`'s numbers fit two new declarations, the plan releases
    them (and buys 4) and only `plan.ambiguous_moves` makes apply refuse. A saved plan is
    plain JSON and engine.check_fresh compares only its actions, not `ambiguous_moves`
    (nor `replaced`), so deleting that one key from plan.json lets
    `apply plan.json --allow-release` release customers' numbers the configuration never
    asked to release. check_fresh should compare the recomputed ambiguous_moves (and
    replaced) with the file's, or check_guards should use the recomputed plan."""
    import json

    (tmp_path / "numbers.yaml").write_text(TWO.format(body=DECL.format(name="support")))
    assert run(tmp_path, "apply", "--auto-approve").returncode == 0
    before = set(sandbox_world(tmp_path).numbers)
    body = DECL.format(name="support-a") + DECL.format(name="support-b")
    (tmp_path / "numbers.yaml").write_text(TWO.format(body=body))
    assert run(tmp_path, "plan", "-out", "plan.json").returncode == 0
    data = json.loads((tmp_path / "plan.json").read_text())
    assert data["ambiguous_moves"]
    data["ambiguous_moves"] = {}
    (tmp_path / "plan.json").write_text(json.dumps(data))
    applied = run(tmp_path, "apply", "plan.json", "--allow-release")
    assert before <= set(sandbox_world(tmp_path).numbers), applied.stdout + applied.stderr
    assert applied.returncode != 0
