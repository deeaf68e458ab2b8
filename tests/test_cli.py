"""The CLI as a user runs it: a subprocess, a YAML file, the sandbox provider on local disk."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest

from numbers_iac.cli import use_color
from numbers_iac.config import DEFAULT_STATE_PATH
from numbers_iac.simulation import World

ROOT = Path(__file__).resolve().parent.parent

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
    provider: lab
    numbers: ["+33 3 22 00 00 01"]
    app: support-ivr
    protect: true
"""


def run(
    cwd: Path, *args: str, stdin: str | None = None, env: dict | None = None
) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "NUMBERS_IAC_CONFIG"}
    full_env.update({"NO_COLOR": "1", **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "numbers_iac", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
    )


def write_config(directory: Path, support_quantity: int = 2, text: str | None = None) -> Path:
    path = directory / "numbers.yaml"
    path.write_text(text if text is not None else CONFIG.format(support_quantity=support_quantity))
    return path


def sandbox_world(directory: Path) -> World:
    return World.load(directory / ".numbers-iac" / "sandbox-lab.json")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write_config(tmp_path)
    return tmp_path


def test_plan_apply_plan_converges_with_terraform_exit_codes(project):
    first = run(project, "plan", "--detailed-exitcode")
    assert first.returncode == 2, first.stderr
    assert "3 to purchase" in first.stdout
    applied = run(project, "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    assert "Apply complete. Numbers: 3 purchased" in applied.stdout
    second = run(project, "plan", "--detailed-exitcode")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "No changes" in second.stdout
    owned = sandbox_world(project).numbers
    assert len(owned) == 3 and "+33322000001" in owned


def test_detailed_exitcode_is_1_on_error(project):
    write_config(project, text="version: 1\nnumbers: [oops\n")
    result = run(project, "plan", "--detailed-exitcode")
    assert result.returncode == 1
    assert result.stderr.startswith("error: numbers.yaml:2:10: invalid YAML")
    assert "Traceback" not in result.stderr


def test_saved_plan_applies_exactly_that_plan(project):
    saved = run(project, "plan", "-out", "p.json")
    assert saved.returncode == 0, saved.stderr
    plan = json.loads((project / "p.json").read_text())
    schema = json.loads((ROOT / "schemas" / "plan.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(plan)
    wanted = sum(a["count"] for a in plan["actions"] if a["kind"] == "purchase")
    applied = run(project, "apply", "p.json")
    assert applied.returncode == 0, applied.stderr
    assert len(sandbox_world(project).numbers) == wanted == 3


def test_saved_plan_applies_in_another_checkout_of_the_same_configuration(project, tmp_path):
    """A CI merge job checks the repository out elsewhere: the plan's configuration path is
    gone, and ./numbers.yaml (the same text: the digest says so) is read instead."""
    assert run(project, "plan", "-out", "p.json").returncode == 0
    moved = tmp_path.parent / f"{tmp_path.name}-moved"
    project.rename(moved)
    applied = run(moved, "apply", "p.json")
    assert applied.returncode == 0, applied.stderr
    assert len(sandbox_world(moved).numbers) == 3
    write_config(moved, support_quantity=5)
    assert run(moved, "plan", "-out", "p.json").returncode == 0
    write_config(moved, support_quantity=6)
    other = run(moved, "apply", "p.json")
    assert other.returncode == 1 and "changed since this plan was made" in other.stderr
    assert run(moved, "plan", "-out", "p.json").returncode == 0
    moved.rename(project)
    write_config(project, support_quantity=7)
    again = run(project, "apply", "p.json")
    assert again.returncode == 1
    assert f"this plan was made from {moved / 'numbers.yaml'}, which is gone, and " in again.stderr


def test_a_plan_saved_by_an_earlier_version_is_refused_as_such(project):
    assert run(project, "plan", "-out", "p.json").returncode == 0
    saved = json.loads((project / "p.json").read_text())
    saved["state_fingerprint"] = "d662b3860822d81f2d4969595d7958bd283ed998f6ad6c7c1677a794b6eac890"
    (project / "p.json").write_text(json.dumps(saved))
    result = run(project, "apply", "p.json")
    assert result.returncode == 1
    assert "this plan was saved by an earlier numbers-iac" in result.stderr
    assert not (project / ".numbers-iac" / "sandbox-lab.json").exists() or not (
        sandbox_world(project).numbers
    )


def test_saved_plan_refused_when_config_changed(project):
    run(project, "plan", "-out", "p.json")
    write_config(project, support_quantity=5)
    result = run(project, "apply", "p.json")
    assert result.returncode == 1
    assert "configuration" in result.stderr and "changed since this plan" in result.stderr
    assert (
        not (project / ".numbers-iac" / "sandbox-lab.json").exists()
        or not sandbox_world(project).numbers
    )


def test_saved_plan_refused_when_account_changed(project):
    assert run(project, "apply", "--auto-approve").returncode == 0
    write_config(project, support_quantity=3)
    assert run(project, "plan", "-out", "p.json").returncode == 0
    world = sandbox_world(project)
    world.add_app("added-in-the-console")
    world.save(project / ".numbers-iac" / "sandbox-lab.json")
    before = set(world.numbers)
    result = run(project, "apply", "p.json")
    assert result.returncode == 1
    apps = len(world.apps)
    assert (
        f"provider lab changed since this plan was made (apps: {apps - 1} then, {apps} now)"
    ) in result.stderr
    assert set(sandbox_world(project).numbers) == before


def test_saved_plan_refusal_says_what_changed_by_hand(project):
    """A number rebound and another bought in the console: the refusal says which, so the
    user knows to look at the console before planning again."""
    assert run(project, "apply", "--auto-approve").returncode == 0
    write_config(project, support_quantity=3)
    assert run(project, "plan", "-out", "p.json").returncode == 0
    world = sandbox_world(project)
    held = sorted(world.numbers)
    world.update(held[0], app_id=world.add_app("console"))
    world.save(project / ".numbers-iac" / "sandbox-lab.json")
    rebound = run(project, "apply", "p.json")
    assert rebound.returncode == 1
    assert "changed since this plan was made (the app of some numbers; apps: " in rebound.stderr
    assert "numbers:" not in rebound.stderr
    assert run(project, "plan", "-out", "p.json").returncode == 0
    world = sandbox_world(project)
    world.buy(world.search("FR", limit=1)[0][0].number)
    world.save(project / ".numbers-iac" / "sandbox-lab.json")
    bought = run(project, "apply", "p.json")
    assert bought.returncode == 1
    assert f"(numbers: {len(held)} then, {len(held) + 1} now)" in bought.stderr
    assert set(sandbox_world(project).numbers) == {*held, *set(world.numbers) - set(held)}


def test_saved_plan_refused_when_state_changed(project):
    assert run(project, "apply", "--auto-approve").returncode == 0
    write_config(project, support_quantity=3)
    assert run(project, "plan", "-out", "p.json").returncode == 0
    with sqlite3.connect(project / DEFAULT_STATE_PATH) as db:  # another apply, say
        db.execute("""UPDATE managed_numbers SET labels = '{"team": "night"}'""")
    before = set(sandbox_world(project).numbers)
    result = run(project, "apply", "p.json")
    assert result.returncode == 1
    assert (
        "the state changed since this plan was made (what was last applied to some "
        "numbers), by another apply or a state command; run plan again"
    ) in result.stderr
    assert set(sandbox_world(project).numbers) == before


def test_release_needs_allow_release_and_protected_numbers_stay(project):
    assert run(project, "apply", "--auto-approve").returncode == 0
    write_config(project, text=CONFIG.format(support_quantity=0).split("  hotline:")[0])
    plan = run(project, "plan")
    assert plan.stdout.count("IRREVERSIBLE") >= 2  # two releases marked, hotline not released
    assert "+33322000001" not in [
        line.split()[1] for line in plan.stdout.splitlines() if line.strip().startswith("-")
    ]
    assert "protected" in plan.stdout
    before = set(sandbox_world(project).numbers)
    refused = run(project, "apply", "--auto-approve")
    assert refused.returncode == 3
    assert "--allow-release" in refused.stderr and "Nothing was changed" in refused.stderr
    assert set(sandbox_world(project).numbers) == before
    allowed = run(project, "apply", "--auto-approve", "--allow-release")
    assert allowed.returncode == 0, allowed.stderr
    assert set(sandbox_world(project).numbers) == {"+33322000001"}


def test_apply_without_terminal_asks_for_auto_approve(project):
    result = run(project, "apply", stdin="yes\n")
    assert result.returncode == 1
    assert "--auto-approve" in result.stderr
    assert (
        not (project / ".numbers-iac" / "sandbox-lab.json").exists()
        or not sandbox_world(project).numbers
    )


def test_validate_reports_every_problem_with_location(project):
    write_config(
        project,
        text=textwrap.dedent(
            """\
            version: 1
            providers:
              lab: {type: sandbox, apps: [ivr]}
            numbers:
              a: {provider: lab, country: FR, type: landline}
              b: {provider: nowhere, country: FR}
              c: {provider: lab, numbers: ["+1 415 555"]}
              d: {provider: lab, country: FR, app: missing-app}
              e: {provider: lab, country: FR, quantity: -1}
            """
        ),
    )
    result = run(project, "validate")
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 5, result.stderr
    for line_no, field in [
        (5, "numbers.a.type"),
        (6, "numbers.b.provider"),
        (7, "numbers.c.numbers"),
        (8, "numbers.d.app"),
        (9, "numbers.e.quantity"),
    ]:
        assert any(f"numbers.yaml:{line_no}:" in line and field in line for line in lines), (
            field,
            lines,
        )


def test_missing_env_var_is_named_and_nothing_runs(project):
    write_config(
        project,
        text="version: 1\nproviders:\n  p:\n    type: plivo\n    auth_id: ${NOPE_ID}\n    auth_token: ${NOPE_TOKEN}\nnumbers: {}\n",
    )
    result = run(project, "plan")
    assert result.returncode == 1
    assert "NOPE_ID" in result.stderr and "NOPE_TOKEN" in result.stderr


def test_import_then_plan_shows_no_changes(project):
    data = project / ".numbers-iac" / "sandbox-lab.json"
    data.parent.mkdir()
    World.from_seed({"apps": ["support-ivr"], "owned": 4}).save(data)
    write_config(
        project,
        text="version: 1\nproviders:\n  lab: {type: sandbox, apps: [support-ivr]}\nnumbers: {}\n",
    )
    before = run(project, "plan")
    assert "not managed" in before.stdout
    imported = run(project, "import", "lab")
    assert imported.returncode == 0, imported.stderr
    after = run(project, "plan", "--detailed-exitcode")
    assert after.returncode == 0, after.stdout + after.stderr
    assert "No changes" in after.stdout
    listed = run(project, "state", "list", "--format", "json")
    assert len(json.loads(listed.stdout)["numbers"]) == 4
    config = (project / "numbers.yaml").read_text()
    again = run(project, "import", "lab")
    assert again.returncode == 0, again.stderr
    assert "Nothing to import: lab holds no number" in again.stderr
    assert "Imported 0" not in again.stderr
    assert (project / "numbers.yaml").read_text() == config


def test_inventory_lists_regions_with_stock_and_prices(project):
    result = run(project, "inventory", "lab", "--country", "FR", "--type", "local")
    assert result.returncode == 0, result.stderr
    assert "AMIENS, FRANCE" in result.stdout
    rows = json.loads(
        run(project, "inventory", "lab", "--country", "FR", "--format", "json").stdout
    )
    assert {r["type"] for r in rows} >= {"local", "mobile"}
    assert all(int(r["available"]) >= 0 for r in rows)
    wrong = run(project, "inventory", "lab", "--country", "ZZ")
    assert wrong.returncode == 1
    assert wrong.stderr == (
        "error: --country ZZ is not a country code: give a two-letter ISO 3166 code, such as FR\n"
    )


def test_unknown_region_is_a_plan_error(project):
    write_config(
        project, text=CONFIG.format(support_quantity=2).replace("AMIENS, FRANCE", "ATLANTIS")
    )
    result = run(project, "plan")
    assert result.returncode == 1
    assert "ATLANTIS" in result.stderr and "inventory" in result.stderr


def test_markdown_and_json_formats(project):
    md = run(project, "plan", "--format", "markdown", "-out", "review.json")
    assert md.returncode == 0 and "|" in md.stdout and "numbers-iac apply review.json" in md.stdout
    js = json.loads(run(project, "plan", "--format", "json").stdout)
    assert [a["kind"] for a in js["actions"]] == ["purchase", "purchase"]
    assert sum(a["count"] for a in js["actions"]) == 3


def test_config_from_environment_variable(project, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    result = run(elsewhere, "validate", env={"NUMBERS_IAC_CONFIG": str(project / "numbers.yaml")})
    assert result.returncode == 0, result.stderr


def test_color_only_on_a_terminal_and_never_with_no_color(monkeypatch):
    class Tty:
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_color(Tty()) is True
    assert use_color(Tty(), no_color=True) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_color(Tty()) is False
    monkeypatch.delenv("NO_COLOR")
    assert use_color(object()) is False


def test_state_journal_tells_what_apply_did(project):
    assert "empty" in run(project, "state", "journal").stdout
    assert run(project, "apply", "--auto-approve").returncode == 0
    journal = run(project, "state", "journal")
    assert journal.returncode == 0
    assert "lab / hotline  purchase: ok" in journal.stdout and "+33322000001" in journal.stdout
    entries = json.loads(run(project, "state", "journal", "--format", "json").stdout)
    assert {e["operation"] for e in entries} == {"purchase"} and all(
        e["outcome"] == "ok" for e in entries
    )


def test_an_edited_plan_file_is_refused(project):
    """A plan file is JSON: editing a release onto the protected hotline must not work."""
    assert run(project, "apply", "--auto-approve").returncode == 0
    write_config(project, support_quantity=1)
    assert run(project, "plan", "-out", "p.json").returncode == 0
    plan = json.loads((project / "p.json").read_text())
    [release] = [a for a in plan["actions"] if a["kind"] == "release"]
    release["number"], release["provider_id"] = "+33322000001", "33322000001"
    (project / "p.json").write_text(json.dumps(plan))
    result = run(project, "apply", "p.json", "--allow-release")
    assert result.returncode in (1, 3), result.stdout
    assert "+33322000001" in sandbox_world(project).numbers
    assert len(sandbox_world(project).numbers) == 3


def test_a_declaration_name_mistyped_in_a_flag_is_an_error_not_a_no_op(tmp_path):
    write_config(tmp_path)
    assert run(tmp_path, "apply", "--auto-approve").returncode == 0
    for flag in ("--target", "--accept-missing"):
        typo = run(tmp_path, "plan", flag, "suport-fr")
        assert typo.returncode == 1
        assert typo.stderr == (
            f"error: {flag} names no declaration in the configuration or the state: suport-fr\n"
        )
        known = run(tmp_path, "plan", "--detailed-exitcode", flag, "support-fr")
        assert known.returncode == 0, known.stdout + known.stderr


def test_plan_and_drift_before_the_first_apply_create_no_state(tmp_path):
    """Reading an absent state creates nothing (a drift job in a read-only checkout); a
    plan saved then still applies, and apply creates the state."""
    account = tmp_path / "elsewhere" / "sandbox.json"
    write_config(
        tmp_path,
        text="version: 1\nproviders:\n  lab: {type: sandbox, data: " + str(account) + "}\n"
        "numbers:\n  a: {provider: lab, country: FR, quantity: 1}\n",
    )
    state = tmp_path / DEFAULT_STATE_PATH
    assert run(tmp_path, "plan", "-out", "p.json").returncode == 0
    assert run(tmp_path, "drift").returncode == 2  # a declared number is missing
    assert not state.exists() and not state.parent.exists()
    applied = run(tmp_path, "apply", "p.json")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert state.exists() and run(tmp_path, "plan", "--detailed-exitcode").returncode == 0


def test_a_saved_plan_applied_with_another_configuration_names_both(project):
    write_config(project, support_quantity=3)
    assert run(project, "plan", "-out", "p.json").returncode == 0
    other = project / "other.yaml"
    other.write_text(CONFIG.format(support_quantity=5))
    result = run(project, "-c", "other.yaml", "apply", "p.json")
    assert result.returncode == 1
    assert result.stderr == (
        f"error: this plan was made from {project / 'numbers.yaml'}, not {other}; apply it "
        f"with -c {project / 'numbers.yaml'}, or plan again. Nothing was changed.\n"
    )


def test_json_and_markdown_outputs_end_with_one_newline(project):
    for command in ("plan", "drift"):
        for fmt in ("json", "markdown", "text"):
            out = run(project, command, "--format", fmt).stdout
            assert out.endswith("\n") and not out.endswith("\n\n"), (command, fmt, out[-20:])
    assert json.loads(run(project, "drift", "--format", "json").stdout)["drift"] is True


def test_commands_that_change_nothing_create_no_state(project):
    """`import --print` ("change nothing") and a `state forget` that finds nothing leave no
    state file behind; the empty import says why it printed nothing."""
    printed = run(project, "import", "lab", "--print")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == ""
    assert "Nothing to import: lab holds no number" in printed.stderr
    forgot = run(project, "state", "forget", "support-fr")
    assert forgot.returncode == 1
    assert "the state holds no declaration or number support-fr" in forgot.stderr
    assert not (project / DEFAULT_STATE_PATH).exists()
    assert not list((project / DEFAULT_STATE_PATH).parent.glob("*.lock"))


def test_drift_during_an_apply_says_the_apply_is_running(project):
    """A nightly drift that overlaps a deploy reads the apply's unfinished work as drift:
    it says an apply holds the lock, naming it, so nobody is paged for nothing unknowingly."""
    applied = run(project, "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from numbers_iac.state.sqlite import SqliteStateStore\n"
            f"with SqliteStateStore({str(project / DEFAULT_STATE_PATH)!r}).lock('deploy-9'):\n"
            "    print('locked', flush=True)\n"
            "    time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        during = run(project, "drift")
        assert during.returncode == 0, during.stdout + during.stderr
        assert "Note: an apply is running (" in during.stderr and "deploy-9" in during.stderr
    finally:
        holder.kill()
        holder.wait()
    after = run(project, "drift")
    assert after.returncode == 0 and "apply is running" not in after.stderr
