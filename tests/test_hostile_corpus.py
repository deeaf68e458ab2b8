"""A corpus of malformed and hostile configuration files, each run as a user runs it.

Every case is a file (or a path) that must be refused: `validate` and
`apply --auto-approve --allow-release` both end with exit 1 and only `error: ` lines on
stderr, each naming the configuration as given (and its line and field where the problem
has one), never a traceback, never a secret of the case, and nothing changed: no mutating
request reaches the Plivo emulator every case points at, and no `.numbers-iac` state
directory appears. A case whose file is not even YAML (or not even text) is held to the
same rules. Each error line is also held to be readable: at most one line per place in the
file, no raw control or invisible character, no wall of text (`MAX_LINE`).

Both commands run for every case (about 200 CLI runs, some 85 s on two busy cores). A case
that shows a bug is a strict xfail whose reason starts with "BUG:". `alias-self-reference`
(`&self {a: *self}`, which once made the loader loop until memory ran out) is given 5 s, not
60.

This is in addition to test_hostile_inputs.py, test_hostile_text.py and
test_hostile_secrets.py: the themes overlap, the cases do not. Hostile text in free-form
label *values* (`$(rm -rf /)`, `<script>`, `| a | b |`) is valid by design (escaped where it
is shown, see test_hostile_text.py), so the injection cases put those payloads where the
grammar forbids them: names, label keys, countries, types, pinned numbers.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from numbers_iac.config import MAX_CONFIG_BYTES
from numbers_iac.emulators.faults import MUTATING_METHODS
from numbers_iac.emulators.serve import RunningServer, serve
from numbers_iac.simulation import World

AUTH_ID = "MACORPUS00000000001"
TOKEN = "corpus-token-s3cr3t-4f9a1c"
URL = "@URL@"

#: a configuration `validate` accepts (see the first test); every case breaks it one way
BASE = f"""\
version: 1
providers:
  plivo-eu:
    type: plivo
    base_url: {URL}
    auth_id: {AUTH_ID}
    auth_token: {TOKEN}
numbers:
  support-fr:
    provider: plivo-eu
    country: FR
    region: AMIENS, FRANCE
    quantity: 1
    app: support-ivr
    labels: {{team: support}}
"""

#: too deep a nesting, located where it goes too deep
NESTED = r"numbers.yaml:\d+:\d+: .*nested"
#: invisible or control characters no error line may carry raw
INVISIBLE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060\u2066-\u2069\ufeff]"
)
#: an error line is read by a person: a hostile value must not make it a wall of text
MAX_LINE = 2_000

COMMANDS = {
    "validate": ("validate",),
    "apply": ("apply", "--auto-approve", "--allow-release"),
}


@dataclass(frozen=True)
class Case:
    """One hostile input. `content` is written to `numbers.yaml` in the case's directory
    (`@URL@` replaced by the emulator's address; None writes nothing); `config` is the `-c`
    value as the user gives it; `where`, a regular expression, must match stderr (a `:LINE:`
    and field where the problem has a location); `secrets` must appear in no output."""

    content: str | bytes | None
    where: str = ""
    config: str = "numbers.yaml"
    secrets: tuple[str, ...] = ()
    setup: Callable[[Path], None] | None = None
    bugs: tuple[tuple[str, str], ...] = ()  # (command, reason): a known bug, strict xfail
    timeout: float = 60


def edit(old: str, new: str, text: str = BASE) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def pinned(*numbers: str) -> str:
    """The base declaration with pinned numbers instead of a region and a quantity."""
    listed = ", ".join(f'"{n}"' for n in numbers)
    return edit("    region: AMIENS, FRANCE\n    quantity: 1\n", f"    numbers: [{listed}]\n")


def both(reason: str) -> tuple[tuple[str, str], ...]:
    return tuple((command, reason) for command in COMMANDS)


def raw(text: str) -> bytes:
    return text.encode()


def laughs(levels: int, fan_out: int) -> str:
    lines = ["x-bomb:", "  l0: &l0 lol"]
    for level in range(1, levels):
        aliases = ", ".join([f"*l{level - 1}"] * fan_out)
        lines.append(f"  l{level}: &l{level} [{aliases}]")
    return "\n".join(lines) + "\n"


def merge_bomb(levels: int, fan_out: int) -> str:
    """Merge keys (`<<`) chained inside one flow mapping: each level merges the one before
    `fan_out` times."""
    entries = ["m0: &m0 {a: 1}"]
    for level in range(1, levels):
        merged = ", ".join([f"*m{level - 1}"] * fan_out)
        entries.append(f"m{level}: &m{level} {{<<: [{merged}]}}")
    return "{" + ", ".join(entries) + "}"


def block_sequences(depth: int) -> str:
    return "".join("  " * (i + 2) + "-\n" for i in range(depth)) + "  " * (depth + 2) + "- x\n"


def block_mappings(depth: int) -> str:
    return "".join("  " * (i + 2) + f"k{i}:\n" for i in range(depth)) + "  " * (depth + 2) + "v\n"


def mkdir(name: str) -> Callable[[Path], None]:
    return lambda directory: (directory / name).mkdir(parents=True)


def symlink_loop(directory: Path) -> None:
    (directory / "loop.yaml").symlink_to("loop.yaml")


SECRET_NUMBER = "31415926535"
SECRET_KEY = "sk-live-corpus-9Qw7Zx"

# --------------------------------------------------------------------------- the corpus

CASES = [
    # ---- YAML bombs
    pytest.param(Case(BASE + laughs(9, 10), "alias"), id="bomb-billion-laughs"),
    pytest.param(
        Case(
            BASE
            + "x-fan:\n  big: &big ["
            + ", ".join(["a"] * 2000)
            + "]\n  out: ["
            + ", ".join(["*big"] * 1000)
            + "]\n",
            "alias",
        ),
        id="bomb-alias-fan-out",
    ),
    pytest.param(
        Case(laughs(8, 10) + edit("labels: {team: support}", "labels: *l7"), "alias"),
        id="bomb-as-labels",
    ),
    pytest.param(
        Case(edit("{team: support}", merge_bomb(8, 10)), "alias"), id="bomb-merge-keys-in-labels"
    ),
    pytest.param(
        Case(edit("labels: {team: support}", "labels: *nowhere"), ":15:"), id="alias-undefined"
    ),
    pytest.param(
        Case(
            edit("labels: {team: support}", "labels: &self {a: *self}"),
            ":15:.*refers to the value that contains it",
            timeout=5,
        ),
        id="alias-self-reference",
    ),
    # ---- deep nesting, block style and inside a declaration
    pytest.param(
        Case(
            BASE + "x-deep:\n" + block_sequences(150),
            NESTED,
        ),
        id="nesting-block-sequences",
    ),
    pytest.param(
        Case(
            BASE + "x-deep:\n" + block_mappings(150),
            NESTED,
        ),
        id="nesting-block-mappings",
    ),
    pytest.param(
        Case(
            edit("{team: support}", "{team: " + "[{a: " * 120 + "1" + "}]" * 120 + "}"),
            NESTED,
        ),
        id="nesting-mixed-in-labels",
    ),
    # ---- quantities
    *(
        pytest.param(
            Case(
                edit("quantity: 1", f"quantity: {written}"),
                "numbers.yaml:13:15: numbers.support-fr.quantity",
                bugs=both(bug) if bug else (),
            ),
            id=f"quantity-{name}",
        )
        for name, written, bug in [
            ("billion", "1000000000", ""),
            ("ten-to-the-30", "1" + "0" * 30, ""),
            ("negative", "-5", ""),
            ("float", "2.5", ""),
            ("exponent", "1e9", ""),
            ("infinity", ".inf", ""),
            ("nan", ".nan", ""),
            ("bool", "true", ""),
            ("string", "three", ""),
            ("null", "~", ""),
            ("list", "[1, 2]", ""),
        ]
    ),
    # ---- bytes that are not UTF-8 text
    pytest.param(Case(bytes(range(256)) * 8, "UTF-8"), id="binary-all-bytes"),
    pytest.param(
        Case(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64), "UTF-8"),
        id="binary-png-header",
    ),
    pytest.param(
        Case(raw(BASE).replace(b"AMIENS", "Amiéns".encode("latin-1")), "UTF-8"), id="latin-1-region"
    ),
    pytest.param(Case(BASE.encode("utf-16"), "UTF-8"), id="utf-16-with-bom"),
    pytest.param(
        Case(BASE.encode("utf-16-be"), r"numbers.yaml:1:1: .*U\+0000"), id="utf-16-be-no-bom"
    ),
    pytest.param(Case(BASE.encode("utf-32"), "UTF-8"), id="utf-32-with-bom"),
    pytest.param(
        Case(raw(BASE).replace(b"support}", b"supp\xc0\xafort}"), "UTF-8"), id="utf-8-overlong"
    ),
    pytest.param(
        Case(raw(BASE).replace(b"team:", b"t\x80am:"), "UTF-8"), id="utf-8-lone-continuation"
    ),
    pytest.param(Case(raw(BASE) + b"x-cut: caf\xe2\x82", "UTF-8"), id="utf-8-truncated-at-end"),
    pytest.param(
        Case(raw(BASE).replace(b"country: FR", b"country: FR # no\x00te"), "numbers.yaml:11:"),
        id="nul-in-comment",
    ),
    # ---- control characters in names, labels, regions
    pytest.param(
        Case(edit("AMIENS, FRANCE", '"AMIENS\\a"'), "numbers.yaml:12:13:"), id="bell-in-region"
    ),
    pytest.param(
        Case(raw(BASE).replace(b"AMIENS", b"AMI\x07ENS"), "numbers.yaml:12:"),
        id="raw-bell-byte-in-region",
    ),
    pytest.param(
        Case(edit("{team: support}", '{team: "sup\\rport"}'), "numbers.yaml:15:"),
        id="carriage-return-in-label",
    ),
    pytest.param(
        Case(edit("{team: support}", '{team: "\\e[2J\\e[H"}'), "numbers.yaml:15:"),
        id="escape-sequence-in-label",
    ),
    pytest.param(
        Case(edit("{team: support}", '{team: "a\\Nb"}'), "numbers.yaml:15:"),
        id="next-line-c1-in-label",
    ),
    pytest.param(
        Case(edit("{team: support}", '{"te\\u202eam": support}'), "numbers.yaml:15:"),
        id="bidi-override-in-label-key",
    ),
    pytest.param(
        Case(edit("  support-fr:", '  "support\\u2066-fr":'), "numbers.yaml:9:"),
        id="bidi-isolate-in-declaration-name",
    ),
    pytest.param(
        Case(
            edit("  plivo-eu:", '  "plivo\\u200b-eu":'),
            "numbers.yaml:3:3:",
        ),
        id="zero-width-space-in-provider-name",
    ),
    pytest.param(
        Case(edit("app: support-ivr", 'app: "support\\Livr"'), "numbers.yaml:14:"),
        id="line-separator-in-app",
    ),
    pytest.param(
        Case(edit("country: FR", 'country: "F\\x7f"'), "numbers.yaml:11:"), id="del-in-country"
    ),
    # ---- injection attempts where the grammar forbids them
    pytest.param(
        Case(edit("  support-fr:", '  "$(rm -rf /)":'), "numbers.yaml:9:"),
        id="shell-in-declaration-name",
    ),
    pytest.param(
        Case(edit("  plivo-eu:", '  "`reboot`":'), "numbers.yaml:3:"),
        id="backticks-in-provider-name",
    ),
    pytest.param(
        Case(edit("{team: support}", '{"<script>alert(1)</script>": x}'), "numbers.yaml:15:"),
        id="html-in-label-key",
    ),
    pytest.param(
        Case(edit("  support-fr:", '  "| a | b |":'), "numbers.yaml:9:"),
        id="table-breaking-declaration-name",
    ),
    pytest.param(
        Case(edit("{team: support}", '{"team\\n- [x] ok": x}'), "numbers.yaml:15:"),
        id="newline-in-label-key",
    ),
    pytest.param(
        Case(edit("  support-fr:", "  " + "n" * 65 + ":"), "numbers.yaml:9:3:"),
        id="declaration-name-one-over-the-limit",
    ),
    pytest.param(
        Case(edit("{team: support}", "{" + "k" * 64 + ": v}"), "numbers.yaml:15:14:"),
        id="label-key-one-over-the-limit",
    ),
    pytest.param(
        Case(
            edit("country: FR", "country: " + "Q" * 100_000),
            "numbers.yaml:11:14: numbers.support-fr.country",
        ),
        id="very-long-country",
    ),
    pytest.param(
        Case(
            edit("country: FR", "country: '; DROP TABLE numbers; --'"),
            "numbers.yaml:11:14: numbers.support-fr.country",
        ),
        id="sql-in-country",
    ),
    pytest.param(
        Case(
            edit("    quantity: 1\n", '    quantity: 1\n    type: "local\\nmobile"\n'),
            "numbers.yaml:14:",
        ),
        id="newline-in-type",
    ),
    # ---- pinned numbers that are not E.164 for this declaration
    *(
        pytest.param(
            Case(
                pinned(*numbers),
                r"numbers.yaml:12:\d+: numbers.support-fr.numbers\[",
                bugs=both(bug) if bug else (),
            ),
            id=f"pinned-{name}",
        )
        for name, numbers, bug in [
            ("letters", ("+33 3 22 AB CD 01",), ""),  # never read as keypad digits
            ("too-short", ("+331",), ""),
            ("too-long", ("+333220000011234567",), ""),
            ("wrong-country", ("+1 415 555 0123",), ""),
            ("duplicates", ("+33322000001", "+33 3 22 00 00 01"), ""),
            ("plus-only", ("+",), ""),
            ("empty-string", ("",), ""),
        ]
    ),
    pytest.param(
        Case(
            edit("    region: AMIENS, FRANCE\n    quantity: 1\n", "    numbers: [33322000001]\n"),
            "numbers.yaml:12:",
        ),
        id="pinned-yaml-integer",
    ),
    # ---- unknown keys
    pytest.param(Case(BASE + "providerz: {}\n", "numbers.yaml:16:"), id="unknown-top-level-key"),
    pytest.param(
        Case(edit("    auth_id:", "    auth_tokn: x\n    auth_id:"), "numbers.yaml:6:"),
        id="misspelt-provider-setting",
    ),
    pytest.param(
        Case(edit("    labels:", "    lables:"), "numbers.yaml:15:"), id="misspelt-declaration-key"
    ),
    pytest.param(
        Case(edit("    quantity: 1", "    quantity: 1\n    quantitty: 2"), "numbers.yaml:14:"),
        id="misspelt-quantity-key",
    ),
    pytest.param(
        Case(edit("    type: plivo", "    typ: plivo"), "numbers.yaml:4:5: providers.plivo-eu"),
        id="provider-type-misspelt",
    ),
    # ---- secrets as numbers, or in the wrong places
    pytest.param(
        Case(
            edit(f"auth_token: {TOKEN}", f"auth_token: {SECRET_NUMBER}"),
            "numbers.yaml:7:",
            secrets=(SECRET_NUMBER,),
        ),
        id="secret-token-as-number",
    ),
    pytest.param(
        Case(
            edit(f"auth_token: {TOKEN}", f"auth_token: [{SECRET_KEY}]"),
            "numbers.yaml:7:",
            secrets=(SECRET_KEY,),
        ),
        id="secret-token-as-list",
    ),
    pytest.param(
        Case(
            edit(f"auth_token: {TOKEN}", f"auth_token: {{value: {SECRET_KEY}}}"),
            "numbers.yaml:7:",
            secrets=(SECRET_KEY,),
        ),
        id="secret-token-as-mapping",
    ),
    pytest.param(
        Case(
            edit("    labels:", f"    api_key: {SECRET_KEY}\n    labels:"),
            "numbers.yaml:15:",
            secrets=(SECRET_KEY,),
        ),
        id="secret-in-declaration",
    ),
    pytest.param(
        Case(BASE + f"auth_token: {SECRET_KEY}\n", "numbers.yaml:16:", secrets=(SECRET_KEY,)),
        id="secret-at-top-level",
    ),
    pytest.param(
        Case(
            edit("{team: support}", f"{{team: support, api_key: [{SECRET_KEY}]}}"),
            "numbers.yaml:15:",
            secrets=(SECRET_KEY,),
        ),
        id="secret-in-label-as-list",
    ),
    pytest.param(
        Case(
            edit("    auth_id:", f"    api_key: {SECRET_KEY}\n    auth_id:"),
            "numbers.yaml:6:",
            secrets=(SECRET_KEY,),
        ),
        id="secret-setting-plivo-does-not-take",
    ),
    pytest.param(
        Case(
            BASE + f"state: {{backend: postgres, dsn: [postgres://u:{SECRET_KEY}@h/db]}}\n",
            "numbers.yaml:16:",
            secrets=(SECRET_KEY,),
        ),
        id="secret-dsn-as-list",
    ),
    # ---- odd paths
    pytest.param(
        Case(
            BASE + "state: {path: statedir}\n",
            "numbers.yaml:16:",
            setup=mkdir("statedir"),
        ),
        id="state-path-is-a-directory",
    ),
    pytest.param(
        Case(BASE + 'state: {path: "state\\0.sqlite"}\n', "numbers.yaml:16:"),
        id="state-path-with-nul",
    ),
    pytest.param(Case(BASE + "state: {path: ''}\n", "numbers.yaml:16:"), id="state-path-empty"),
    pytest.param(Case(None, "not a regular file", config="/dev/null"), id="config-dev-null"),
    pytest.param(Case(None, "not a regular file", config="."), id="config-is-the-directory"),
    pytest.param(
        Case(None, "no such", config="no/such/deep/dir/numbers.yaml"),
        id="config-in-missing-deep-dir",
    ),
    pytest.param(
        Case(None, "no such", config="../../../../../../../../nonexistent-corpus/n.yaml"),
        id="config-dotdot-escape",
    ),
    pytest.param(
        Case(None, "loop.yaml", config="loop.yaml", setup=symlink_loop), id="config-symlink-loop"
    ),
    pytest.param(Case(b"", "empty"), id="config-zero-bytes"),
    pytest.param(Case(b"\n   \n\n", "empty"), id="config-blank-lines-only"),
    pytest.param(Case(b"# numbers\n# more numbers\n", "empty"), id="config-only-comments"),
    pytest.param(
        Case(b"---\n...\n", "top level must be a mapping"), id="config-document-markers-only"
    ),
    pytest.param(
        Case(
            edit("{team: support}", "{team: '" + "x" * (MAX_CONFIG_BYTES + 1) + "'}"), "larger than"
        ),
        id="config-over-size-limit",
    ),
    # ---- wrong types and versions
    pytest.param(
        Case(edit("providers:\n  plivo-eu:\n", "providers:\n  - plivo-eu:\n"), "numbers.yaml:3:"),
        id="providers-as-list",
    ),
    pytest.param(
        Case(BASE.split("numbers:\n")[0] + "numbers: support-fr\n", "numbers.yaml:8:"),
        id="numbers-as-string",
    ),
    pytest.param(Case(edit("version: 1", "version: 2"), "numbers.yaml:1:"), id="version-2"),
    pytest.param(
        Case(edit("version: 1", 'version: "1"'), "numbers.yaml:1:"), id="version-as-string"
    ),
    pytest.param(Case(edit("version: 1\n", ""), "version"), id="version-missing"),
    pytest.param(
        Case(edit("{team: support}", "[team, support]"), "numbers.yaml:15:"), id="labels-as-list"
    ),
    pytest.param(
        Case(edit("    app: support-ivr", "    capabilities: voice"), "numbers.yaml:14:"),
        id="capabilities-as-string",
    ),
    pytest.param(
        Case("- " + BASE.replace("\n", "\n  ").rstrip() + "\n", "numbers.yaml:1:"),
        id="top-level-list",
    ),
    # ---- duplicate keys, tabs
    pytest.param(Case(BASE + "numbers: {}\n", "numbers.yaml:16:"), id="duplicate-top-level-key"),
    pytest.param(
        Case(BASE + "  support-fr:\n    provider: plivo-eu\n", "numbers.yaml:16:"),
        id="duplicate-declaration",
    ),
    pytest.param(
        Case(edit("{team: support}", "{team: support, team: sales}"), "numbers.yaml:15:"),
        id="duplicate-label-key",
    ),
    pytest.param(
        Case(edit("    country: FR", "\tcountry: FR"), "numbers.yaml:11:"), id="tab-indentation"
    ),
    # ---- providers and references
    pytest.param(
        Case(edit("type: plivo", "type: twilio"), "numbers.yaml:4:"), id="unknown-provider-type"
    ),
    pytest.param(
        Case(edit("provider: plivo-eu", "provider: plivo-us"), "numbers.yaml:10:"),
        id="undefined-provider",
    ),
    pytest.param(
        Case(edit("quantity: 1", "quantity: ${UNSET_CORPUS_VAR}"), "numbers.yaml:13:"),
        id="unset-var-as-quantity",
    ),
    pytest.param(
        Case(
            edit("version: 1", "version: ${UNSET_CORPUS_VAR}"),
            "numbers.yaml:1:",
        ),
        id="unset-var-as-version",
    ),
    pytest.param(
        Case(edit("AMIENS, FRANCE", '"${UNSET_CORPUS_VAR"'), "numbers.yaml:12:"),
        id="unclosed-var-reference",
    ),
    pytest.param(
        Case(edit("AMIENS, FRANCE", '"${1BAD}"'), "numbers.yaml:12:"), id="invalid-var-name"
    ),
]


# --------------------------------------------------------------------------- the harness


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningServer]:
    server = serve(
        "plivo", World.from_seed({"apps": ["support-ivr"]}), auth_id=AUTH_ID, auth_token=TOKEN
    )
    try:
        yield server
    finally:
        server.shutdown()


def run(cwd: Path, config: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLIVO_", "NUMBERS_IAC_"))}
    env["NO_COLOR"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "numbers_iac", "-c", config, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def prepare(directory: Path, case: Case, url: str) -> None:
    if case.setup is not None:
        case.setup(directory)
    if case.content is None:
        return
    content = case.content
    data = content.encode() if isinstance(content, str) else content
    (directory / "numbers.yaml").write_bytes(data.replace(URL.encode(), url.encode()))


def params() -> Iterator[pytest.param]:
    for command in COMMANDS:
        for param in CASES:
            (case,) = param.values
            bugs = dict(case.bugs)
            marks = (
                [pytest.mark.xfail(strict=True, reason=bugs[command])] if command in bugs else []
            )
            yield pytest.param(case, command, id=f"{command}-{param.id}", marks=marks)


def test_the_corpus_has_sixty_distinct_cases():
    ids = [param.id for param in CASES]
    assert len(ids) >= 60 and len(set(ids)) == len(ids)
    contents = [param.values[0].content for param in CASES if param.values[0].content is not None]
    assert len(set(contents)) == len(contents)


def test_the_base_configuration_is_valid(tmp_path, emulator):
    """So that each case is refused for its own hostility, not for a broken base."""
    (tmp_path / "numbers.yaml").write_text(BASE.replace(URL, emulator.url))
    result = run(tmp_path, "numbers.yaml", "validate")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("case", "command"), list(params()))
def test_a_hostile_configuration_is_refused_and_changes_nothing(
    tmp_path, emulator, case: Case, command: str
):
    workdir = tmp_path / "a" / "b"
    workdir.mkdir(parents=True)
    prepare(workdir, case, emulator.url)
    seen = len(emulator.app.log)

    result = run(workdir, case.config, *COMMANDS[command], timeout=case.timeout)

    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output and "internal error" not in output, output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines, output
    for line in lines:
        assert line.startswith("error: ") and case.config in line, output
        assert len(line) <= MAX_LINE and not INVISIBLE.search(line), output
    places = [line.split(": ")[1] for line in lines]  # "numbers.yaml:11:14"
    located = [place for place in places if re.search(r":\d+:\d+$", place)]
    assert len(set(located)) == len(located), output  # one line per problem
    assert re.search(case.where, result.stderr), output
    for secret in (TOKEN, *case.secrets):
        assert secret not in output, output
    mutations = [r for r in emulator.app.log[seen:] if r.method in MUTATING_METHODS]
    assert not mutations, mutations
    assert not (workdir / ".numbers-iac").exists()
