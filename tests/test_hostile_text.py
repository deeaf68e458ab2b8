"""Text from users and providers: rejected with a located error when a user writes control
characters, escaped for the terminal and for Markdown when a provider sends them.

Today's failures this pins: ESC sequences from a provider's app name erased plan lines in a
terminal, and a label "\\n\\n- [x] safe" forged a checked box in a pull-request comment.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from numbers_iac.config import load_config
from numbers_iac.errors import ConfigError, ProviderError
from numbers_iac.executor import FAILED, ActionResult, ApplyReport
from numbers_iac.model import (
    Adopt,
    Bind,
    JournalEntry,
    ManagedNumber,
    PendingNote,
    Plan,
    Price,
    Purchase,
    Recorded,
    Release,
    SetLabels,
    Unmanaged,
    Where,
)
from numbers_iac.providers.base import InventoryRow
from numbers_iac.providers.http import HttpClient
from numbers_iac.render import render_markdown, render_text, tables
from numbers_iac.render.escape import for_markdown, for_terminal
from numbers_iac.render.report import render_report
from tests.faults.cli import cli, cli_env

#: erases the line, returns the cursor, then forges a checked box in Markdown
HOSTILE = "evil\x1b[2K\rapp\n\n- [x] safe"
#: an OSC title change (never stripped by click), a C1 CSI and a bidi override
SNEAKY = "x\x1b]0;pwned\x07\x9b2J\u202egnp.exe"
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def hostile_plan() -> Plan:
    return Plan(
        actions=(
            Purchase(
                "lab",
                "support-fr",
                count=2,
                where=Where("FR", "local", "AMIENS"),
                app="support-ivr",
                labels={"team": "support"},
                price=Price(Decimal("1"), Decimal("0.80"), currency=SNEAKY),
            ),
            Adopt("lab", "support-fr", number="+33322000001", reason=HOSTILE),
            Bind("lab", "support-fr", number="+33322000001", app_before=HOSTILE, app="ivr"),
            SetLabels(
                "lab",
                "support-fr",
                number="+33322000002",
                before={"team": HOSTILE},
                after={"team": "support"},
                tag_before=SNEAKY,
                tag="support-fr",
            ),
            Release("lab", "old", number="+3332200`0003\n# pwned", reason=HOSTILE),
        ),
        pending=(PendingNote("lab", "support-fr", 1, numbers=(HOSTILE,)),),
        unmanaged=(Unmanaged("lab", SNEAKY),),
        warnings=(f"app {HOSTILE} not found",),
    )


# --------------------------------------------------------------------------- escaping


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("a\x1b[2Kb", "a\\x1b[2Kb"),
        ("line\nnext\r", "line\\nnext\\r"),
        ("tab\there", "tab\\there"),
        ("nul\0", "nul\\x00"),
        ("c1\x9b", "c1\\x9b"),
        ("del\x7f", "del\\x7f"),
        ("bidi\u202e", "bidi\\u202e"),
        ("sep\u2028", "sep\\u2028"),
        ("plain, été 東京 +33 1", "plain, été 東京 +33 1"),
    ],
)
def test_terminal_escaping_makes_control_characters_visible(text, shown):
    assert for_terminal(text) == shown
    assert for_terminal(shown) == shown  # escaping twice changes nothing more


@pytest.mark.parametrize(
    "text",
    [
        "\n\n- [x] safe",
        "# heading",
        "- item",
        "+ item",
        "> quote",
        "1. first",
        "2) second",
        "---",
        "===",
        "~~~",
        "```",
        "    indented code",
        "<img src=x onerror=alert(1)>",
        "a | b",
        "[link](http://evil)",
        "![img](http://evil)",
        "**bold** _it_ ~~s~~",
        "&amp;",
    ],
)
def test_markdown_escaping_cannot_start_a_block_or_make_markup(text):
    shown = for_markdown(text)
    assert "\n" not in shown and not CONTROL.search(shown)
    for marker in ("#", "-", "+", ">", "=", "~", "`", " "):
        assert not shown.startswith(marker), shown
    assert not re.match(r"\d+[.)]", shown)
    assert not re.search(r"(?<!\\)([<\[\]|*_`]|&(?!#32;))", shown), shown


# --------------------------------------------------------------------------- renderers


def assert_no_raw_control(output: str) -> None:
    assert not CONTROL.search(output), repr(CONTROL.search(output))


def test_text_plan_escapes_provider_text():
    out = render_text(hostile_plan())
    assert_no_raw_control(out)
    assert "evil\\x1b[2K\\rapp\\n\\n- [x] safe" in out
    assert not any(line.startswith("- [x]") for line in out.splitlines())
    assert "\\x1b]0;pwned\\x07\\x9b2J\\u202egnp.exe" in out


def test_coloured_text_plan_keeps_its_own_colours_but_escapes_the_providers():
    out = render_text(hostile_plan(), color=True)
    assert "\x1b[" in out  # our styling
    assert "\x1b[2K" not in out and "\x1b]0;" not in out and "\r" not in out
    assert "\x9b" not in out and "\u202e" not in out


def test_markdown_plan_cannot_be_forged():
    out = render_markdown(hostile_plan())
    assert_no_raw_control(out)
    lines = out.splitlines()
    assert not any(
        line.lstrip().startswith(("- [x]", "# pwned", "- \\[x\\] safe")) for line in lines
    )
    assert not any(line.startswith("# ") for line in lines)
    # the number with a backtick cannot close its code span early
    assert "`+3332200`0003" not in out
    # inside the HTML <summary> block, text is HTML-escaped, not backslash-escaped
    summary = next(line for line in lines if line.startswith("<summary>"))
    assert "\\" not in summary


def test_markdown_summary_block_escapes_html():
    plan = Plan(actions=(Bind("lab<b>", "a&b</summary>", number="+33322000001", app="x"),))
    out = render_markdown(plan)
    summary = next(line for line in out.splitlines() if line.startswith("<summary>"))
    assert "lab&lt;b&gt; / a&amp;b&lt;/summary&gt;" in summary


def test_apply_report_escapes_provider_error_details():
    action = Bind("lab", "support-fr", number="+33322000001", app="ivr")
    report = ApplyReport("a1", [ActionResult(action, FAILED, detail=HOSTILE)])
    out = render_report(report)
    assert_no_raw_control(out)
    assert len(out.splitlines()) == 2
    assert "evil\\x1b[2K\\rapp\\n\\n- [x] safe" in out


def test_state_journal_and_inventory_tables_escape_what_they_show():
    managed = ManagedNumber(
        "lab", SNEAKY, "support-fr", "id1", app=HOSTILE, labels={"team": HOSTILE}
    )
    recorded = Recorded(numbers={("lab", SNEAKY): managed})
    entry = JournalEntry(1, "a1", "2024-01-01T00:00:00Z", "bind", "lab", "d", detail=HOSTILE)
    row = InventoryRow(
        "FR", "local", HOSTILE, SNEAKY, 5, Price(Decimal(0), Decimal(1), currency=SNEAKY), ()
    )
    for out in (
        tables.state_text(recorded, "state.sqlite"),
        tables.journal_text([entry]),
        tables.inventory_text([row], "lab", "FR", None),
    ):
        assert_no_raw_control(out)
        assert not any(line.startswith("- [x]") for line in out.splitlines()), out


def test_provider_error_text_is_one_line_with_visible_escapes():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, text="bad\x1b[2J\nerror: forged line\rx")

    client = HttpClient("acme", "http://127.0.0.1:9", transport=httpx.MockTransport(handler))
    with pytest.raises(ProviderError) as caught:
        client.request("POST", "/x", operation="buy")
    message = str(caught.value)
    assert len(message.splitlines()) == 1
    assert_no_raw_control(message)
    assert "bad\\x1b[2J\\nerror: forged line\\rx" in message


def test_cli_error_lines_never_carry_raw_control_characters(tmp_path):
    (tmp_path / "numbers.yaml").write_text(
        'version: 1\nproviders: {}\nnumbers: {}\n"\\e]0;pwned\\a": 1\n'
    )
    result = cli(tmp_path, "validate")
    assert result.returncode == 1
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert all(line.startswith("error: ") for line in result.stderr.splitlines()), result.stderr


# --------------------------------------------------------------------------- config


BASE = """\
version: 1
providers:
  lab:
    type: sandbox
    apps: [support-ivr]
numbers:
  support-fr:
    provider: lab
    country: FR
    region: AMIENS, FRANCE
    app: support-ivr
    labels: {team: support}
"""


def load_text(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    path = tmp_path / "numbers.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=env or {})
    return [str(p).removeprefix(f"{tmp_path}/") for p in caught.value.problems]


@pytest.mark.parametrize(
    ("old", "new", "where", "code"),
    [
        (
            "  support-fr:",
            '  "support-fr\\n":',
            "numbers.yaml:7:3: numbers.support-fr\\n",
            "U+000A",
        ),
        ("  support-fr:", '  "supp\\eort":', "numbers.yaml:7:3: numbers.supp\\x1bort", "U+001B"),
        ("  lab:", '  "lab\\r":', "numbers.yaml:3:3: providers.lab\\r", "U+000D"),
        (
            "{team: support}",
            '{"team\\n": x}',
            "numbers.yaml:12:14: numbers.support-fr.labels.team",
            "U+000A",
        ),
        (
            "{team: support}",
            '{team: "\\n\\n- [x] safe"}',
            "numbers.yaml:12:20: numbers.support-fr.labels.team",
            "U+000A",
        ),
        (
            "{team: support}",
            '{team: "a\\x9bb"}',
            "numbers.yaml:12:20: numbers.support-fr.labels.team",
            "U+009B",
        ),
        (
            "{team: support}",
            '{team: "a\\tb"}',
            "numbers.yaml:12:20: numbers.support-fr.labels.team",
            "U+0009",
        ),
        (
            "app: support-ivr",
            'app: "support-ivr\\e[2K"',
            "numbers.yaml:11:10: numbers.support-fr.app",
            "U+001B",
        ),
        (
            "[support-ivr]",
            '[support-ivr, "b\\0"]',
            "numbers.yaml:5:25: providers.lab.apps[1]",
            "U+0000",
        ),
        (
            "AMIENS, FRANCE",
            '"AMIENS\\x7f"',
            "numbers.yaml:10:13: numbers.support-fr.region",
            "U+007F",
        ),
        (
            "AMIENS, FRANCE",
            '"AMIENS\\u202e"',
            "numbers.yaml:10:13: numbers.support-fr.region",
            "U+202E",
        ),
    ],
)
def test_control_characters_in_user_text_are_one_located_error(tmp_path, old, new, where, code):
    problems = load_text(tmp_path, BASE.replace(old, new, 1))
    # a renamed provider also leaves its declaration naming an unknown one: a second problem
    assert len(problems) == (2 if old == "  lab:" else 1), problems
    located = [p for p in problems if "control character" in p]
    assert len(located) == 1 and located[0].startswith(where), problems
    assert code in located[0]
    assert not any(CONTROL.search(p) or "\n" in p for p in problems)


def test_control_characters_from_the_environment_are_named_not_echoed(tmp_path):
    text = BASE.replace("{team: support}", "{team: '${TEAM}'}")
    problems = load_text(tmp_path, text, env={"TEAM": "s3cr3t\x1b[2Jvalue"})
    assert len(problems) == 1 and "U+001B" in problems[0]
    assert "s3cr3t" not in problems[0]


def test_multiline_secrets_are_not_refused(tmp_path):
    """A PEM key has newlines; secrets are never printed, so they are not checked."""
    path = tmp_path / "numbers.yaml"
    path.write_text(BASE.replace("type: sandbox", "type: sandbox\n    x_private_key: '${KEY}'", 1))
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={"KEY": "-----BEGIN-----\nabc\n-----END-----"})
    assert all("control character" not in str(p) for p in caught.value.problems)


# --------------------------------------------------------------------------- end to end


@pytest.fixture
def hostile_emulator(tmp_path: Path) -> Iterator[str]:
    """A Plivo emulator on loopback whose account holds an app and an alias built to attack
    a terminal and a Markdown comment."""
    seed = tmp_path / "seed.json"
    seed.write_text(
        json.dumps(
            {
                "apps": ["support-ivr", HOSTILE],
                "owned": [
                    {"number": "+33322000001", "alias": "support-fr", "app": HOSTILE},
                    {"number": "+33322000002", "alias": SNEAKY},
                ],
            }
        )
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "numbers_iac", "emulator", "plivo", "--port", "0"]
        + ["--seed-file", str(seed)],
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


PLIVO_CONFIG = """\
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
    region: AMIENS, FRANCE
    quantity: 1
    app: support-ivr
"""


def test_hostile_provider_text_is_escaped_end_to_end(tmp_path, hostile_emulator):
    (tmp_path / "numbers.yaml").write_text(PLIVO_CONFIG.format(base_url=hostile_emulator))
    text = cli(tmp_path, "plan")
    assert text.returncode == 0, text.stderr
    assert_no_raw_control(text.stdout)
    assert "evil\\x1b[2K\\rapp\\n\\n- [x] safe" in text.stdout
    assert not any(line.startswith("- [x]") for line in text.stdout.splitlines())

    markdown = cli(tmp_path, "plan", "--format", "markdown")
    assert markdown.returncode == 0, markdown.stderr
    assert_no_raw_control(markdown.stdout)
    assert not any(
        line.lstrip().startswith(("- [x]", "- \\[x\\]")) for line in markdown.stdout.splitlines()
    ), markdown.stdout

    applied = cli(tmp_path, "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    assert_no_raw_control(applied.stdout + applied.stderr)
    journal = cli(tmp_path, "state", "journal")
    assert_no_raw_control(journal.stdout)


def test_provider_app_names_in_a_plan_error_stay_on_one_line(tmp_path, hostile_emulator):
    config = PLIVO_CONFIG.format(base_url=hostile_emulator).replace("app: support-ivr", "app: nope")
    (tmp_path / "numbers.yaml").write_text(config)
    result = cli(tmp_path, "plan")
    assert result.returncode == 1, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: numbers.yaml:"), result.stderr
    assert "evil\\x1b[2K\\rapp\\n\\n- [x] safe" in lines[0]
    assert_no_raw_control(result.stderr)
