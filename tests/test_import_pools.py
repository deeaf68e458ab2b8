"""`import` writes pools (a quantity per country, type, location and app, members in the state)
by default, and every number with `--pinned`; either way the next plan shows no changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from numbers_iac.simulation import World
from tests.test_cli import run

EMPTY = "version: 1\nproviders:\n  lab: {type: sandbox, apps: [ivr, bot]}\nnumbers: {}\n"


@pytest.fixture
def account(tmp_path: Path) -> Path:
    world = World.from_seed({"apps": ["ivr", "bot"], "owned": 12})
    for i, number in enumerate(sorted(world.numbers)):
        if i % 3 == 0:
            world.update(number, app_id=world.app_by_name("ivr")[0])
    world.save(tmp_path / ".numbers-iac" / "sandbox-lab.json")
    (tmp_path / "numbers.yaml").write_text(EMPTY)
    return tmp_path


def declarations(directory: Path) -> dict:
    return yaml.safe_load((directory / "numbers.yaml").read_text())["numbers"]


def managed(directory: Path) -> list[dict]:
    listed = run(directory, "state", "list", "--format", "json")
    return json.loads(listed.stdout)["numbers"]


def test_import_writes_pools_and_the_next_plan_has_no_changes(account):
    imported = run(account, "import", "lab")
    assert imported.returncode == 0, imported.stderr
    written = declarations(account)
    assert all("numbers" not in entry for entry in written.values())
    assert sum(entry["quantity"] for entry in written.values()) == 12
    places = {
        (e["country"], e.get("type"), e.get("region"), e.get("app")) for e in written.values()
    }
    assert len(places) == len(written)  # one pool per country, type, location and app
    assert any(entry.get("app") == "ivr" for entry in written.values())
    members = managed(account)
    assert len(members) == 12
    assert {m["declaration"] for m in members} == set(written)
    plan = run(account, "plan", "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "No changes" in plan.stdout


def test_import_pinned_lists_every_number(account):
    imported = run(account, "import", "lab", "--pinned")
    assert imported.returncode == 0, imported.stderr
    written = declarations(account)
    assert sum(len(entry["numbers"]) for entry in written.values()) == 12
    assert all("quantity" not in entry for entry in written.values())
    plan = run(account, "plan", "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout + plan.stderr


def test_a_pool_grows_by_buying_where_its_numbers_are(account):
    assert run(account, "import", "lab").returncode == 0
    written = declarations(account)
    name, entry = next(iter(written.items()))
    text = (account / "numbers.yaml").read_text()
    old = f"quantity: {entry['quantity']}"
    assert text.count(old) >= 1
    start = text.index(f"  {name}:")
    end = text.index(old, start)
    text = text[:end] + f"quantity: {entry['quantity'] + 1}" + text[end + len(old) :]
    (account / "numbers.yaml").write_text(text)
    plan = run(account, "plan", "--format", "json")
    assert plan.returncode == 0, plan.stderr
    actions = json.loads(plan.stdout)["actions"]
    assert [(a["kind"], a["count"]) for a in actions] == [("purchase", 1)]


def test_import_keeps_the_comments_around_an_empty_numbers_block(account):
    (account / "numbers.yaml").write_text(
        EMPTY.replace("numbers: {}\n", "numbers: {}  # OPS-123\n# end\n")
    )
    imported = run(account, "import", "lab")
    assert imported.returncode == 0, imported.stderr
    text = (account / "numbers.yaml").read_text()
    assert "numbers:  # OPS-123\n" in text and text.endswith("# end\n")
    assert sum(e["quantity"] for e in declarations(account).values()) == 12


def test_import_says_which_aliases_it_rewrote(account):
    world = World.load(account / ".numbers-iac" / "sandbox-lab.json")
    first = sorted(world.numbers)[0]
    world.update(first, alias="Support line (London) - do not touch")
    world.save(account / ".numbers-iac" / "sandbox-lab.json")
    imported = run(account, "import", "lab")
    assert imported.returncode == 0, imported.stderr
    assert (
        f"Rewrote the alias of 1 number on lab to the declaration name (the ownership tag): "
        f"{first} was 'Support line (London) - do not touch'."
    ) in imported.stderr


def test_import_names_removed_declarations_whose_numbers_the_state_still_holds(account):
    assert run(account, "import", "lab").returncode == 0
    (account / "numbers.yaml").write_text(EMPTY)  # the declarations removed, the state kept
    again = run(account, "import", "lab")
    assert again.returncode == 0
    assert (
        "Not imported: numbers the state already manages under removed declarations ("
        in again.stderr
    )
    assert "state forget NAME" in again.stderr


def test_import_of_one_provider_takes_numbers_tagged_with_a_name_used_on_another(tmp_path):
    """`support` is declared on provider a; provider b's numbers tagged `support` are not
    a's, so import b takes them in."""
    world = World.from_seed({"owned": 2})
    for number in world.numbers:
        world.update(number, alias="support")
    world.save(tmp_path / "b.json")
    (tmp_path / "numbers.yaml").write_text(
        "version: 1\nproviders:\n  a: {type: sandbox}\n  b: {type: sandbox, data: b.json}\n"
        'numbers:\n  support: {provider: a, country: FR, region: "AMIENS, FRANCE", quantity: 1}\n'
    )
    imported = run(tmp_path, "import", "b")
    assert imported.returncode == 0, imported.stderr
    assert "Imported 2 numbers" in imported.stderr


def test_an_import_the_configuration_would_refuse_names_the_users_file(account):
    (account / "numbers.yaml").write_text(EMPTY.replace("apps: [ivr, bot]", "apps: [bot]"))
    imported = run(account, "import", "lab")
    assert imported.returncode == 1
    assert ".import-" not in imported.stderr
    assert f"error: {account / 'numbers.yaml'}:" in imported.stderr
    assert "app 'ivr' is not one of the apps" in imported.stderr
    assert "(in what import would write; nothing was changed)" in imported.stderr
    assert (account / "numbers.yaml").read_text() == EMPTY.replace(
        "apps: [ivr, bot]", "apps: [bot]"
    )
