"""The pipeline recipes in examples/ci/ are valid YAML, and every numbers-iac command they
run exists with every flag they pass (parsed by the real command line, not read by eye)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import yaml

from numbers_iac.cli import main, terraform_spelling

RECIPES = Path(__file__).resolve().parent.parent / "examples" / "ci"
GITHUB = RECIPES / "github-actions.yml"
GITLAB = RECIPES / ".gitlab-ci.yml"
#: shell variables a recipe passes to numbers-iac, and what they may hold
SUBSTITUTIONS = {"$RELEASE_FLAG": ["--allow-release"]}
_COMMAND = re.compile(r"(?:^|;|&&|\|\||\||\$\()[ \t]*(numbers-iac[ \t].*)$", re.M)
_OPERATORS = (";", "&&", "||", "|", ")", "&")
_REDIRECTIONS = (">", "<", "2>")


def scripts(recipe: Path) -> Iterator[str]:
    """Every shell script the recipe runs."""
    data = yaml.safe_load(recipe.read_text())
    if recipe == GITHUB:
        for job in data["jobs"].values():
            for step in job["steps"]:
                if "run" in step:
                    yield step["run"]
    else:
        for name, job in data.items():
            if isinstance(job, dict) and name != "variables":
                for key in ("before_script", "script"):
                    yield from job.get(key, [])
        yield from data.get("default", {}).get("before_script", [])


def invocations(recipe: Path) -> list[list[str]]:
    """The arguments of every `numbers-iac ...` command (where a command starts: a line's
    start, or after `;`, `&&`, `||`, `|`, `$(`), shell operators and redirections cut off."""
    found = []
    for script in scripts(recipe):
        for match in _COMMAND.finditer(script.replace("\\\n", " ")):
            lexer = shlex.shlex(match.group(1), posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            args = []
            for word in list(lexer)[1:]:
                if word in _OPERATORS or word.startswith(_REDIRECTIONS):
                    break
                args.append(word)
            found.append(args)
    return found


def parse(args: list[str]) -> click.Context:
    """Parse like `numbers-iac ARGS` would, without running anything; raises click's usage
    errors for an unknown command, flag or choice."""
    command: click.Command = main
    names = ["numbers-iac"]
    while isinstance(command, click.Group):
        assert args and args[0] in command.commands, f"no command {args[:1]} in {names}"
        names.append(args[0])
        command, args = command.commands[args[0]], args[1:]
    spelt = terraform_spelling(command, click.Context(command), args)
    return command.make_context(" ".join(names), spelt)


def expanded(args: list[str]) -> Iterator[list[str]]:
    """`args` with each shell variable replaced by each value it may hold."""
    for i, word in enumerate(args):
        if word.startswith("$"):
            assert word in SUBSTITUTIONS, f"unknown variable {word} in numbers-iac {args}"
            for value in [*SUBSTITUTIONS[word], None]:
                rest = [*args[:i], *([value] if value else []), *args[i + 1 :]]
                yield from expanded(rest)
            return
    yield args


@pytest.mark.parametrize("recipe", [GITHUB, GITLAB], ids=lambda p: p.name)
def test_every_numbers_iac_command_and_flag_exists(recipe):
    commands = invocations(recipe)
    assert {args[0] for args in commands} >= {"validate", "plan", "apply", "drift"}
    for args in commands:
        for variant in expanded(args):
            parse(variant)  # raises on anything the command line does not take


@pytest.mark.parametrize("recipe", [GITHUB, GITLAB], ids=lambda p: p.name)
def test_the_loop_plans_with_a_saved_markdown_plan_applies_it_and_alerts_on_drift(recipe):
    commands = [parse(v) for args in invocations(recipe) for v in expanded(args)]
    plans = [c for c in commands if c.info_name.endswith(" plan")]
    assert any(c.params["out"] and c.params["fmt"] == "markdown" for c in plans)
    applies = [c for c in commands if c.info_name.endswith(" apply")]
    assert applies and all(c.params["planfile_path"] == "plan.json" for c in applies)
    assert all(not c.params["auto_approve"] for c in applies)  # a saved plan needs no yes
    text = recipe.read_text()
    assert "numbers-iac-plan" in text  # the one comment is found again by its marker
    assert "status=$?" in text  # drift's exit code (2) ends the job


def test_the_github_workflow_runs_on_pull_requests_merges_and_nights():
    data = yaml.safe_load(GITHUB.read_text())
    triggers = data[True] if True in data else data["on"]  # YAML 1.1 reads `on` as true
    assert {"pull_request", "push", "schedule"} <= set(triggers)
    steps = data["jobs"]["plan"]["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert any(u.startswith("actions/upload-artifact") for u in uses)
    comment = next(s for s in steps if s.get("uses", "").startswith("actions/github-script"))
    assert "updateComment" in comment["with"]["script"]
