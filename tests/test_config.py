"""The configuration loader as a user meets it: what loads, and how each mistake is reported."""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from numbers_iac.config import config_path_from, load_config, load_schema, schema_path
from numbers_iac.errors import ConfigError, Problem
from numbers_iac.model import SourceRef
from numbers_iac.providers import PROVIDER_TYPES
from numbers_iac.providers.base import Capabilities, Provider

FIXTURES = Path(__file__).parent / "fixtures" / "config"
EXAMPLE = FIXTURES / "example.yaml"
EXAMPLE_ENV = {"PLIVO_AUTH_ID": "MAXXXXXXXXXXXXXXXXXX", "PLIVO_AUTH_TOKEN": "tok-123"}

HEADER = """\
version: 1
providers:
  lab:
    type: sandbox
    apps: [support-ivr, sales-bot]
numbers:
"""


def write(tmp_path: Path, text: str, name: str = "numbers.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def problems_of(path: Path, env: dict[str, str] | None = None) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=env or {})
    return caught.value.problems


def only_problem(path: Path, env: dict[str, str] | None = None) -> Problem:
    problems = problems_of(path, env)
    assert len(problems) == 1, "\n".join(map(str, problems))
    return problems[0]


def with_numbers(tmp_path: Path, body: str) -> Path:
    """A config with the standard `lab` sandbox provider and `body` under `numbers:`."""
    return write(tmp_path, HEADER + textwrap.indent(textwrap.dedent(body), "  "))


# --------------------------------------------------------------------------- fake providers
# Registered under planned type names (the loader leaves a registered or planned type to its
# checks, which read the adapter class), to exercise what the loader reads from a provider
# class without depending on any real adapter's capabilities.


class NoAppsProvider(Provider):
    type_name = "callr"
    capabilities = Capabilities(apps=False, number_types=("local", "tollfree"), max_labels=2)
    settings_keys = ("login", "password")
    declaration_options = ("number_class",)


class NoRegionProvider(Provider):
    type_name = "aculab"
    capabilities = Capabilities(region_filter=False)
    settings_keys = ("api_key",)


@pytest.fixture
def fake_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PROVIDER_TYPES, "callr", f"{__name__}:NoAppsProvider")
    monkeypatch.setitem(PROVIDER_TYPES, "aculab", f"{__name__}:NoRegionProvider")


FAKE_HEADER = """\
version: 1
providers:
  cr:
    type: callr
    login: me
    password: ${CALLR_PASSWORD}
  ac:
    type: aculab
    api_key: k
numbers:
"""


def with_fake(tmp_path: Path, body: str) -> Path:
    return write(tmp_path, FAKE_HEADER + textwrap.indent(textwrap.dedent(body), "  "))


# --------------------------------------------------------------------------- the example


def test_example_loads_with_the_declared_values() -> None:
    desired = load_config(EXAMPLE, env=EXAMPLE_ENV)

    assert desired.config_path == str(EXAMPLE.absolute())
    assert desired.config_digest == hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()
    assert desired.state.backend == "sqlite"
    assert desired.state.path == str(EXAMPLE.parent.absolute() / ".numbers-iac" / "state.sqlite")

    lab, plivo = desired.providers["lab"], desired.providers["plivo-eu"]
    assert (lab.type, list(lab.settings["apps"])) == ("sandbox", ["support-ivr", "sales-bot"])
    assert plivo.type == "plivo"
    assert plivo.settings == {
        "auth_id": "MAXXXXXXXXXXXXXXXXXX",
        "auth_token": "tok-123",
        "base_url": "https://api.plivo.com",
    }
    assert plivo.base_dir == str(EXAMPLE.parent.absolute())

    support = desired.declarations["support-fr"]
    assert support.provider == "lab"
    assert (support.country, support.number_type, support.region) == (
        "FR",
        "local",
        "AMIENS, FRANCE",
    )
    assert (support.quantity, support.pinned, support.app) == (2, (), "support-ivr")
    assert support.labels == {"team": "support", "cost-center": "4711"}
    assert support.capabilities == ("voice",)
    assert support.protect is False
    assert support.where() is not None

    hotline = desired.declarations["hotline"]
    assert hotline.pinned == ("+33322000001",)
    assert hotline.country == "FR"  # taken from the pinned number
    assert hotline.quantity == 1  # defaults to the pinned count
    assert hotline.number_type == "local"
    assert hotline.protect is True


def test_declarations_remember_where_each_field_was_written() -> None:
    desired = load_config(EXAMPLE, env=EXAMPLE_ENV)
    file = str(EXAMPLE)
    support = desired.declarations["support-fr"]
    assert support.source == SourceRef(file, 15, 3)
    assert support.located("region") == SourceRef(file, 19, 5)
    assert support.located("app") == SourceRef(file, 21, 5)
    assert support.located("number_type") == support.located("type") == SourceRef(file, 18, 5)
    assert support.located("prefix") == support.source  # not written: the declaration itself
    hotline = desired.declarations["hotline"]
    assert hotline.located("pinned") == SourceRef(file, 26, 5)
    assert hotline.located("numbers[0]") == SourceRef(file, 26, 15)
    assert desired.providers["plivo-eu"].source == SourceRef(file, 9, 3)


def test_schema_is_valid_draft_2020_12_and_accepts_the_example() -> None:
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    text = EXAMPLE.read_text()
    for name, value in EXAMPLE_ENV.items():
        text = text.replace("${" + name + "}", value)
    jsonschema.Draft202012Validator(schema).validate(yaml.safe_load(text))


def test_schema_is_found_through_the_package_and_is_the_repository_file() -> None:
    repo_file = Path(__file__).parent.parent / "schemas" / "numbers.schema.json"
    package_file = Path(__file__).parent.parent / "numbers_iac" / "schemas" / "numbers.schema.json"
    assert schema_path().samefile(repo_file)
    assert package_file.samefile(repo_file)  # a symlinked directory, not a copy
    assert json.loads(repo_file.read_text()) == load_schema()


def test_schema_lists_every_registered_provider_type() -> None:
    types = load_schema()["$defs"]["provider"]["properties"]["type"]["enum"]
    assert set(PROVIDER_TYPES) <= set(types)


# --------------------------------------------------------------------------- many mistakes


def test_five_mistakes_give_five_located_problems(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        version: 1
        providers:
          lab:
            type: sandbox
        numbers:
          support-fr:
            provider: lab
            country: FR
            type: landline
            region: ${SUPPORT_REGION}
          hotline:
            provider: labb
            country: FR
            numbers: ["+44 20 7946 0000"]
          sales:
            provider: lab
            country: FR
            quantity: 3
            quantity: 4
        """,
    )
    problems = problems_of(path, env={"UNRELATED": "x"})
    assert [(p.file, p.line, p.path) for p in problems] == [
        (str(path), 9, "numbers.support-fr.type"),
        (str(path), 10, "numbers.support-fr.region"),
        (str(path), 12, "numbers.hotline.provider"),
        (str(path), 14, "numbers.hotline.numbers[0]"),
        (str(path), 19, "numbers.sales"),
    ]
    messages = [p.message for p in problems]
    assert messages[0] == "'landline' is not one of local, national, mobile, tollfree"
    assert messages[1].startswith("environment variable SUPPORT_REGION is not set")
    assert messages[2].startswith("unknown provider 'labb' (did you mean 'lab'?)")
    assert messages[3] == "'+44 20 7946 0000' is a GB number, but the declaration's country is FR"
    assert messages[4] == "duplicate key 'quantity' (first written at line 18)"


def test_problems_print_as_file_line_column_path_message(tmp_path: Path) -> None:
    path = with_numbers(tmp_path, "a:\n  provider: lab\n  country: FR\n  type: landline\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert str(caught.value) == (
        f"{path}:10:11: numbers.a.type: 'landline' is not one of local, national, mobile, tollfree"
    )


# --------------------------------------------------------------------------- YAML level


def test_yaml_syntax_error_is_one_located_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nproviders: {lab: {type: sandbox}\nnumbers: {}\n")
    problem = only_problem(path)
    assert problem.line == 3
    assert problem.message.startswith("invalid YAML:")


def test_an_unquoted_variable_inside_braces_is_told_to_be_quoted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "version: 1\nstate: {backend: postgres, dsn: ${NUMBERS_IAC_PG_DSN}}\n"
        "providers: {lab: {type: sandbox}}\nnumbers: {}\n",
    )
    problem = only_problem(path)
    assert (problem.line, problem.column) == (2, 34)
    assert problem.message.endswith('; inside { } or [ ], write a ${VAR} in quotes: "${VAR}"')


def test_unclosed_bracket_points_where_it_was_opened(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nproviders: {}\nnumbers: [oops\n")
    problem = only_problem(path)
    assert (problem.line, problem.column) == (3, 10)
    assert problem.message.startswith("invalid YAML: a flow sequence is not closed")


def test_duplicate_keys_are_located_at_the_second_one(tmp_path: Path) -> None:
    path = with_numbers(
        tmp_path,
        """\
        a:
          provider: lab
          country: FR
        a:
          provider: lab
          country: GB
        """,
    )
    problem = only_problem(path)
    assert (problem.line, problem.column, problem.path) == (10, 3, "numbers")
    assert problem.message == "duplicate key 'a' (first written at line 7)"


def test_merge_keys_may_be_overridden_without_a_duplicate_error(tmp_path: Path) -> None:
    path = with_numbers(
        tmp_path,
        """\
        a: &base
          provider: lab
          country: FR
        b:
          <<: *base
          country: GB
        """,
    )
    desired = load_config(path, env={})
    assert desired.declarations["b"].country == "GB"
    assert desired.declarations["b"].provider == "lab"


def test_a_mapping_with_a_merge_may_itself_be_reused_through_an_alias(tmp_path: Path) -> None:
    """Reading `b` must not rewrite its node: `c: *b` reads b as written, and a list of
    merges takes the keys of each."""
    path = with_numbers(
        tmp_path,
        """        a: &a {provider: lab, country: FR, quantity: 1}
        b: &b
          <<: *a
          country: GB
        c: *b
        d:
          <<: [*b, {app: sales-bot}]
          quantity: 2
        """,
    )
    declarations = load_config(path, env={}).declarations
    assert [declarations[n].country for n in "abcd"] == ["FR", "GB", "GB", "GB"]
    assert [declarations[n].quantity for n in "abcd"] == [1, 1, 1, 2]
    assert declarations["d"].app == "sales-bot"


def test_two_merge_keys_in_one_mapping_are_a_duplicate_key(tmp_path: Path) -> None:
    path = with_numbers(
        tmp_path,
        """        a: &a {provider: lab, country: FR}
        b:
          <<: *a
          <<: *a
        """,
    )
    problem = only_problem(path)
    assert (problem.line, problem.path) == (10, "numbers.b")
    assert problem.message == "duplicate key '<<' (first written at line 9)"


def test_a_key_two_merged_mappings_disagree_on_is_refused_unless_written(
    tmp_path: Path,
) -> None:
    """Of `<<: [*a, *b]` YAML says a wins and PyYAML 6.0.4 says b: a quantity read either
    way would buy or release; written in the mapping itself, it is what every reader reads."""
    path = with_numbers(
        tmp_path,
        """\
        a: &a {provider: lab, country: FR, quantity: 2}
        b:
          <<: [*a, {provider: lab, quantity: 3}]
        c:
          <<: [*a, {provider: lab, quantity: 3}]
          quantity: 3
        """,
    )
    problem = only_problem(path)
    assert (problem.line, problem.path) == (9, "numbers.b")
    assert problem.message.startswith("'<<' merges two different values of 'quantity'")


def test_a_second_merge_key_inside_a_merged_mapping_is_reported(tmp_path: Path) -> None:
    path = with_numbers(
        tmp_path,
        """\
        a: &a {provider: lab, country: FR}
        b:
          <<: [{<<: *a, <<: {quantity: 4}}]
        """,
    )
    assert "duplicate key '<<'" in only_problem(path).message


def test_a_number_with_a_leading_zero_that_reads_the_same_either_way_is_taken(
    tmp_path: Path,
) -> None:
    path = with_numbers(tmp_path, "a: {provider: lab, country: FR, quantity: 07}\n")
    assert load_config(path, env={}).declarations["a"].quantity == 7


def test_a_misspelt_setting_written_as_an_octal_number_is_never_quoted(tmp_path: Path) -> None:
    """A misspelt secret's name is no secret's path: only its unknown key is said."""
    text = "version: 1\nproviders:\n  c: {type: callr, login: me, pasword: 0123456701}\n"
    problem = only_problem(write(tmp_path, text + "numbers: {}\n"))
    assert problem.path == "providers.c.pasword"
    assert "0123456701" not in problem.message and "21913025" not in problem.message


@pytest.mark.parametrize(
    ("field", "written", "says"),
    [
        ("quantity", "3.0", "expected a whole number, got 3.0 (write 3)"),
        ("quantity", "2.5", "expected a whole number, got 2.5"),
        ("quantity", "010", "010 reads as 8 in YAML (an octal number)"),
        ("quantity", "1:30", "1:30 reads as 90 in YAML (base 60)"),
    ],
)
def test_a_count_yaml_reads_otherwise_than_written_is_refused(
    tmp_path: Path, field: str, written: str, says: str
) -> None:
    """3.0 passes JSON Schema's integer and used to be read as no quantity at all (the
    default, so a plan released what the declaration held); 010 and 1:30 are YAML 1.1's
    octal and base 60, which an editor reads as 10 and as text."""
    path = with_numbers(tmp_path, f"a: {{provider: lab, country: FR, {field}: {written}}}\n")
    problem = only_problem(path)
    assert (problem.line, problem.path) == (7, f"numbers.a.{field}")
    assert problem.message.startswith(says), problem.message


@pytest.mark.parametrize(
    ("safety", "says"),
    [
        ("max_purchases: 0.0", "expected a whole number, got 0.0 (write 0)"),
        ("max_releases: 0.0", "expected a whole number, got 0.0 (write 0)"),
        ("max_release_percent: .nan", "expected a number, got .nan (not a number)"),
        ("max_monthly_increase: .inf", "expected a number, got .inf (infinite)"),
    ],
)
def test_a_guard_rail_limit_that_is_no_number_is_refused(
    tmp_path: Path, safety: str, says: str
) -> None:
    """Each of these used to validate and then mean "no limit": the guard rail was off."""
    path = write(tmp_path, HEADER.replace("numbers:", f"safety:\n  {safety}\nnumbers: {{}}"))
    problem = only_problem(path)
    assert problem.path == f"safety.{safety.split(':')[0]}"
    assert problem.message == says


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("- version: 1\n", "the top level must be a mapping"),
        ("just text\n", "the top level must be a mapping"),
    ],
)
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str, message: str) -> None:
    problem = only_problem(write(tmp_path, text))
    assert problem.message.startswith(message)


def test_missing_file_is_a_clear_config_error(tmp_path: Path) -> None:
    problem = only_problem(tmp_path / "nope.yaml")
    assert problem.file == str(tmp_path / "nope.yaml")
    assert problem.message == "no such configuration file"


# --------------------------------------------------------------------------- environment


def test_env_references_are_replaced_with_defaults_and_escapes(tmp_path: Path) -> None:
    path = with_numbers(
        tmp_path,
        """\
        a:
          provider: lab
          country: ${COUNTRY}
          region: ${REGION:-PARIS}
          labels: {price: "$${NOT_A_VAR}", owner: "${OWNER:-}", empty: "${EMPTY:-fallback}"}
        """,
    )
    declaration = load_config(path, env={"COUNTRY": "fr", "EMPTY": ""}).declarations["a"]
    assert (declaration.country, declaration.region) == ("FR", "PARIS")
    assert declaration.labels == {"price": "${NOT_A_VAR}", "owner": "", "empty": "fallback"}


def test_missing_variable_is_named_and_no_value_ever_leaks(tmp_path: Path) -> None:
    secret = "sk_live_9f8e7d6c5b4a"
    path = write(
        tmp_path,
        """\
        version: 1
        providers:
          lab:
            type: sandbox
            apps: [ivr]
        numbers:
          a:
            provider: lab
            country: FR
            type: ${SECRET}
            app: ${SECRET}
            numbers: ["${SECRET}"]
            quantity: ${SECRET}
            region: ${MISSING_VAR}
        """,
    )
    problems = problems_of(path, env={"SECRET": secret})
    text = "\n".join(map(str, problems))
    assert secret not in text
    assert {p.path for p in problems} >= {
        "numbers.a.type",
        "numbers.a.app",
        "numbers.a.numbers[0]",
        "numbers.a.quantity",
        "numbers.a.region",
    }
    missing = next(p for p in problems if p.path == "numbers.a.region")
    assert (missing.line, "MISSING_VAR" in missing.message) == (14, True)


def test_unclosed_reference_is_reported(tmp_path: Path) -> None:
    path = with_numbers(tmp_path, "a: {provider: lab, country: FR, region: '${REGION'}\n")
    assert "not closed" in only_problem(path).message


# --------------------------------------------------------------------------- semantic checks

SEMANTIC_CASES = [
    pytest.param(
        'a: {provider: lab, country: FR, numbers: ["+33 3 22 00 00 01", "+33 3 22 00 00 02"], quantity: 1}',
        "numbers.a.quantity",
        "quantity 1 is lower than the 2 pinned numbers",
        id="quantity-below-pinned",
    ),
    pytest.param(
        "a: {provider: lab, quantity: 2}",
        "numbers.a",
        "buying numbers needs a country",
        id="purchase-without-country",
    ),
    pytest.param(
        'a: {provider: lab, numbers: ["+33 3 22 00 00 01", "+44 20 7946 0000"]}',
        "numbers.a.numbers",
        "pinned numbers belong to different countries (FR, GB)",
        id="pinned-countries-differ",
    ),
    pytest.param(
        'a: {provider: lab, country: FR, numbers: ["+44 20 7946 0000"]}',
        "numbers.a.numbers[0]",
        "'+44 20 7946 0000' is a GB number, but the declaration's country is FR",
        id="pinned-wrong-country",
    ),
    pytest.param(
        'a: {provider: lab, numbers: ["0322000001"]}',
        "numbers.a.numbers[0]",
        "'0322000001' is not a phone number (write it with its +country code, or set country)",
        id="pinned-national-without-country",
    ),
    pytest.param(
        'a: {provider: lab, country: FR, numbers: ["+33 0 00 00 00 00"]}',
        "numbers.a.numbers[0]",
        "'+33 0 00 00 00 00' is not a valid phone number",
        id="pinned-invalid",
    ),
    pytest.param(
        'a: {provider: lab, country: FR, numbers: ["+33322000001", "+33 3 22 00 00 01"]}',
        "numbers.a.numbers[1]",
        "+33322000001 is listed twice in this declaration",
        id="pinned-twice-in-one",
    ),
    pytest.param(
        'a: {provider: lab, numbers: ["+33322000001"]}\nb: {provider: lab, numbers: ["+33 3 22 00 00 01"]}',
        "numbers.b.numbers[0]",
        "+33322000001 is pinned by both 'a' at line 7 and 'b'",
        id="pinned-in-two-declarations",
    ),
    pytest.param(
        "a: {provider: nowhere, country: FR}",
        "numbers.a.provider",
        "unknown provider 'nowhere' (defined under providers: lab)",
        id="unknown-provider",
    ),
    pytest.param(
        "a: {provider: lab, country: FR, app: support-ivrr}",
        "numbers.a.app",
        "app 'support-ivrr' is not one of the apps of provider 'lab' (sandbox): support-ivr, sales-bot",
        id="unknown-listed-app",
    ),
    pytest.param(
        "a: {provider: lab, country: FR, region: AMIENS, prefix: '3'}",
        "numbers.a.prefix",
        "give region or prefix, not both",
        id="region-and-prefix",
    ),
    pytest.param(
        "a: {provider: lab, country: XX}",
        "numbers.a.country",
        "'XX' is not a country code",
        id="unknown-country",
    ),
]


@pytest.mark.parametrize(("body", "path", "message"), SEMANTIC_CASES)
def test_semantic_check(tmp_path: Path, body: str, path: str, message: str) -> None:
    problem = only_problem(with_numbers(tmp_path, body + "\n"))
    assert problem.path == path
    assert problem.message.startswith(message), problem.message
    assert problem.line is not None and problem.line >= 7


def test_country_comes_from_pinned_numbers_when_not_written(tmp_path: Path) -> None:
    path = with_numbers(
        tmp_path,
        'a: {provider: lab, numbers: ["+1 202 555 0100"]}\n'
        'b: {provider: lab, numbers: ["+33 3 22 00 00 01"], quantity: 3}\n',
    )
    declarations = load_config(path, env={}).declarations
    assert declarations["a"].country == "US"
    assert (declarations["b"].country, declarations["b"].quantity) == ("FR", 3)
    assert declarations["b"].where() is not None  # the two others are bought in FR


def test_quantity_zero_means_none(tmp_path: Path) -> None:
    path = with_numbers(tmp_path, "a: {provider: lab, quantity: 0}\n")
    assert load_config(path, env={}).declarations["a"].quantity == 0


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        (
            "a: {provider: lab, country: FR, quantity: 100001}",
            "numbers.a.quantity",
            "100001 is too large",
        ),
        (
            "a: {provider: lab, country: NO}",
            "numbers.a.country",
            'expected text, got false (write "NO" in quotes',
        ),
        (
            "a: {provider: lab, country: FR, prefix: 3}",
            "numbers.a.prefix",
            'expected text, got a whole number (write "3"',
        ),
        (
            "a: {provider: lab, country: FR, capabilities: [fax]}",
            "numbers.a.capabilities[0]",
            "'fax' is not one of voice, sms, mms",
        ),
        (
            "a: {provider: lab, country: FR, labels: {team: [a]}}",
            "numbers.a.labels.team",
            "expected text, a number or true/false, got a list",
        ),
        (
            "a: {provider: lab, country: FR, labels: {'bad key': x}}",
            "numbers.a.labels",
            "'bad key' is not a valid label key",
        ),
        ("'bad name': {provider: lab, country: FR}", "numbers", "'bad name' is not a valid name"),
        ("a: {country: FR}", "numbers.a", "missing required key 'provider'"),
        ("a: {provider: lab, country: FR, type: Local}", "numbers.a.type", "'Local' is not one"),
        ("a: {provider: lab, country: FR, region: ' '}", "numbers.a.region", "' ': expected a"),
        ("a: {provider: lab, country: FR, app: ' '}", "numbers.a.app", "' ': expected an app"),
        (
            "a: {provider: lab, country: FR, moved_from: ['old name!']}",
            "numbers.a.moved_from[0]",
            "'old name!': expected a declaration's name",
        ),
        ("a:", "numbers.a", "expected a mapping, got nothing (null)"),
        ("a: [+33322000001]", "numbers.a", "expected a mapping, got a list"),
    ],
)
def test_schema_errors_are_human(tmp_path: Path, body: str, path: str, message: str) -> None:
    problem = only_problem(with_numbers(tmp_path, body + "\n"))
    assert (problem.path, problem.line) == (path, 7)
    assert problem.message.startswith(message), problem.message


def test_unknown_top_level_key_is_located_at_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "  a: {provider: lab, country: FR}\nnumber: {}\n")
    problem = only_problem(path)
    assert (problem.line, problem.path) == (8, "number")
    assert problem.message == "unknown top-level key 'number' (did you mean 'numbers'?)"


@pytest.mark.parametrize(
    ("section", "path", "message"),
    [
        ("safety: {max_purchase: 3}", "safety.max_purchase", "unknown key 'max_purchase' (did"),
        ("state: {path: s.db, dsn: x}", "state.dsn", "unknown key 'dsn'"),
        (
            "state: {backend: Postgres, dsn: x}",
            "state.backend",
            "'Postgres' is not one of sqlite, postgres (did you mean 'postgres'?)",
        ),
    ],
)
def test_a_mistake_in_state_or_safety_is_one_problem_at_its_key(
    tmp_path: Path, section: str, path: str, message: str
) -> None:
    """Named by the key's full path, as in providers and declarations; a backend misspelt
    is that one problem, not also its settings' (which belong to the backend meant)."""
    problem = only_problem(write(tmp_path, f"{section}\n" + HEADER + "  {}\n"))
    assert problem.path == path
    assert problem.message.startswith(message), problem.message


@pytest.mark.parametrize(
    ("setting", "path", "message"),
    [
        ("timeout: 0", "providers.p.timeout", "0 is too small: it must be more than 0"),
        ("rate_limit: [1, 2, 3]", "providers.p.rate_limit", "expected a list of 2 items, got 3"),
        ("timeout: .nan", "providers.p.timeout", "expected a number, got .nan (not a number)"),
    ],
)
def test_provider_settings_out_of_range_are_worded_for_people(
    tmp_path: Path, setting: str, path: str, message: str
) -> None:
    text = f"version: 1\nproviders:\n  p: {{type: plivo, {setting}}}\nnumbers: {{}}\n"
    problem = only_problem(write(tmp_path, text))
    assert (problem.path, problem.message) == (path, message)


def test_labels_are_text(tmp_path: Path) -> None:
    path = with_numbers(
        tmp_path, "a: {provider: lab, country: FR, labels: {n: 4711, f: 1.5, b: true, s: x}}\n"
    )
    labels = load_config(path, env={}).declarations["a"].labels
    assert labels == {"n": "4711", "f": "1.5", "b": "true", "s": "x"}
    assert type(labels) is dict


def test_label_values_yaml_would_rewrite_are_refused_with_the_quotes_to_write(
    tmp_path: Path,
) -> None:
    """Octal, sexagesimal, hex and yes/no/on/off scalars are read by YAML as other values
    (0777 as 511): one located error each, never a label nobody wrote."""
    path = with_numbers(
        tmp_path,
        "a: {provider: lab, country: FR, labels: {cc: 0777, s: 12:30, h: 0x1F, on: off, "
        'ok: 4711, q: "0777"}}\n',
    )
    problems = problems_of(path)
    assert [(p.path, p.message) for p in problems] == [
        (
            f"numbers.a.labels.{key}",
            f'{w} reads as {v} in YAML: write "{w}" in quotes to keep it as written',
        )
        for key, w, v in [
            ("cc", "0777", "511"),
            ("s", "12:30", "750"),
            ("h", "0x1F", "31"),
            ("on", "off", "false"),
        ]
    ]
    assert {p.line for p in problems} == {7}


# --------------------------------------------------------------------------- provider classes


def test_unknown_provider_setting_is_located(tmp_path: Path, fake_providers: None) -> None:
    path = write(
        tmp_path,
        FAKE_HEADER.replace("login: me", "login: me\n    pasword: x")
        + "  a: {provider: cr, country: FR}\n",
    )
    problem = only_problem(path, env={"CALLR_PASSWORD": "p"})
    assert (problem.line, problem.path) == (6, "providers.cr.pasword")
    assert problem.message.startswith(
        "unknown setting 'pasword' for a callr provider (did you mean 'password'?)"
    )
    assert "accepted: base_url, login, password" in problem.message


def test_http_providers_accept_base_url(tmp_path: Path, fake_providers: None) -> None:
    path = write(
        tmp_path,
        FAKE_HEADER.replace("api_key: k", "api_key: k\n    base_url: http://127.0.0.1:8080")
        + "  {}\n",
    )
    desired = load_config(path, env={"CALLR_PASSWORD": "p"})
    assert desired.providers["ac"].settings["base_url"] == "http://127.0.0.1:8080"
    assert desired.providers["cr"].settings["password"] == "p"


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        (
            "a: {provider: cr, country: FR, app: ivr}",
            "numbers.a.app",
            "provider 'cr' (callr) has no app binding",
        ),
        (
            "a: {provider: cr, country: FR, type: mobile}",
            "numbers.a.type",
            "provider 'cr' (callr) does not sell mobile numbers (it sells: local, tollfree)",
        ),
        (
            "a: {provider: cr, country: FR, labels: {a: x, b: y, c: z}}",
            "numbers.a.labels",
            "provider 'cr' (callr) stores at most 2 labels",
        ),
        (
            "a: {provider: cr, country: FR, number_clas: gold}",
            "numbers.a.number_clas",
            "unknown key 'number_clas' (did you mean 'number_class'?)",
        ),
        (
            "a: {provider: ac, country: FR, regoin: PARIS}",
            "numbers.a.regoin",
            "unknown key 'regoin' (did you mean 'region'?) (aculab options: none)",
        ),
        (
            "a: {provider: ac, country: FR, region: PARIS}",
            "numbers.a.region",
            "provider 'ac' (aculab) cannot search by region",
        ),
    ],
)
def test_checks_from_provider_capabilities(
    tmp_path: Path, fake_providers: None, body: str, path: str, message: str
) -> None:
    problem = only_problem(with_fake(tmp_path, body + "\n"), env={"CALLR_PASSWORD": "p"})
    assert problem.path == path
    assert problem.message.startswith(message), problem.message


def test_provider_options_are_kept(tmp_path: Path, fake_providers: None) -> None:
    path = with_fake(tmp_path, "a: {provider: cr, country: FR, number_class: gold}\n")
    declaration = load_config(path, env={"CALLR_PASSWORD": "p"}).declarations["a"]
    assert declaration.options == {"number_class": "gold"}


def test_provider_type_without_an_adapter_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every type has shipped: pretend voximplant is still a planned one.
    from numbers_iac.config import checks, schema_errors

    monkeypatch.delitem(PROVIDER_TYPES, "voximplant", raising=False)
    monkeypatch.setattr(checks, "PLANNED_TYPES", ("voximplant",))
    monkeypatch.setattr(schema_errors, "PLANNED_TYPES", ("voximplant",))
    path = write(tmp_path, "version: 1\nproviders:\n  vx: {type: voximplant}\nnumbers: {}\n")
    problem = only_problem(path)
    assert (problem.path, problem.line) == ("providers.vx.type", 3)
    assert problem.message.startswith("provider type 'voximplant' is not available")


def test_sandbox_settings_are_checked_against_the_real_adapter(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "version: 1\nproviders:\n  lab:\n    type: sandbox\n    base_url: http://x\n    page_size: 5\nnumbers: {}\n",
    )
    problem = only_problem(path)
    assert (problem.path, problem.line) == ("providers.lab.base_url", 5)
    assert problem.message.startswith("unknown setting 'base_url' for a sandbox provider")


def test_plivo_settings_are_checked_against_the_real_adapter(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        version: 1
        providers:
          eu:
            type: plivo
            auth_id: ${PLIVO_AUTH_ID}
            auth_tokn: ${PLIVO_AUTH_TOKEN}
            base_url: http://127.0.0.1:9
        numbers: {}
        """,
    )
    problem = only_problem(path, env={"PLIVO_AUTH_ID": "id", "PLIVO_AUTH_TOKEN": "sekrit-tok"})
    assert (problem.path, problem.line) == ("providers.eu.auth_tokn", 6)
    assert problem.message.startswith(
        "unknown setting 'auth_tokn' for a plivo provider (did you mean 'auth_token'?)"
    )
    assert "sekrit-tok" not in problem.message


# --------------------------------------------------------------------------- state


def test_state_defaults_next_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    path = write(tmp_path / "sub", "version: 1\nproviders: {}\nnumbers: {}\n")
    state = load_config(path, env={}).state
    assert (state.backend, state.path) == (
        "sqlite",
        str(tmp_path / "sub" / ".numbers-iac" / "state.sqlite"),
    )


def test_relative_state_path_resolves_against_the_config_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf").mkdir()
    write(
        tmp_path / "conf",
        "version: 1\nstate: {path: ../state/numbers.db}\nproviders: {}\nnumbers: {}\n",
    )
    monkeypatch.chdir(tmp_path)
    desired = load_config("conf/numbers.yaml", env={})
    assert desired.state.path == str(tmp_path / "state" / "numbers.db")
    assert desired.config_path == str(tmp_path / "conf" / "numbers.yaml")


def test_absolute_state_path_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "s.db"
    path = write(
        tmp_path, f"version: 1\nstate: {{path: '{target}'}}\nproviders: {{}}\nnumbers: {{}}\n"
    )
    assert load_config(path, env={}).state.path == str(target)


def test_a_postgres_state_reads_its_dsn_from_the_environment(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "version: 1\nstate:\n  backend: postgres\n  dsn: ${NUMBERS_IAC_PG_DSN}\n"
        "providers: {}\nnumbers: {}\n",
    )
    state = load_config(path, env={"NUMBERS_IAC_PG_DSN": "postgresql://u:pw@db/s"}).state
    assert (state.backend, state.path, state.dsn) == ("postgres", None, "postgresql://u:pw@db/s")
    assert "pw" not in repr(state)


def test_a_postgres_state_needs_a_dsn_and_takes_no_path(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "version: 1\nstate:\n  backend: postgres\n  path: x.db\nproviders: {}\nnumbers: {}\n",
    )
    messages = {(p.path, p.line, p.message) for p in problems_of(path)}
    assert messages == {
        ("state", 3, "missing required key 'dsn'"),
        ("state.path", 4, "unknown key 'path'"),
    }


def test_a_sqlite_state_takes_no_dsn(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nstate:\n  dsn: x\nproviders: {}\nnumbers: {}\n")
    messages = {(p.path, p.line, p.message) for p in problems_of(path)}
    assert messages == {("state.dsn", 3, "unknown key 'dsn'")}


# --------------------------------------------------------------------------- config path


def test_config_path_precedence() -> None:
    assert config_path_from("x.yaml", {"NUMBERS_IAC_CONFIG": "y.yaml"}) == Path("x.yaml")
    assert config_path_from(None, {"NUMBERS_IAC_CONFIG": "y.yaml"}) == Path("y.yaml")
    assert config_path_from(None, {}) == Path("numbers.yaml")


def test_alias_bomb_is_refused_quickly(tmp_path):
    """A billion-laughs file must fail with one clear line, not hang the tool."""
    lines = [
        "version: 1",
        "providers:",
        "  lab: {type: sandbox}",
        'a0: &a0 ["x","x","x","x","x","x","x","x","x"]',
    ]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    path = tmp_path / "numbers.yaml"
    path.write_text("\n".join([*lines, "numbers: {}"]) + "\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert len(err.value.problems) == 1
    assert "alias" in str(err.value)


def test_provider_settings_are_typed_by_the_schema(tmp_path):
    path = tmp_path / "numbers.yaml"
    path.write_text(
        "version: 1\nproviders:\n  p:\n    type: plivo\n    auth_id: MA1\n    auth_token: t\n"
        "    timeout: abc\n    rate_limit: 5\n    write_alias: 'false'\n  lab:\n    type: sandbox\n"
        "    page_size: 0\nnumbers: {}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    located = {(p.line, p.path) for p in err.value.problems}
    assert located == {
        (7, "providers.p.timeout"),
        (8, "providers.p.rate_limit"),
        (9, "providers.p.write_alias"),
        (12, "providers.lab.page_size"),
    }


def test_suggested_fixes_are_ones_that_work(tmp_path: Path) -> None:
    """Each hint, followed, gives a valid file: days take their unit (not quotes), nothing
    written needs a value (not quotes), and a missing secret is set in the environment
    (never given a default in the file)."""
    path = write(
        tmp_path,
        """\
        version: 1
        safety: {release_after: 30}
        providers:
          lab: {type: sandbox}
          p: {type: plivo, auth_id: x, auth_token: "${NO_SUCH_TOKEN}", base_url: }
        numbers:
          a: {provider: lab, country: FR, release_after: 7}
        """,
    )
    messages = {p.path: p.message for p in problems_of(path)}
    assert messages == {
        "safety.release_after": "expected a number of days such as 30d, got a whole number (write 30d)",
        "numbers.a.release_after": "expected a number of days such as 30d, got a whole number (write 7d)",
        "providers.p.auth_token": "environment variable NO_SUCH_TOKEN is not set (set it in the environment)",
        "providers.p.base_url": "expected text, got nothing (null)",
    }
    fixed = path.read_text().replace("30}", "30d}").replace("after: 7}", "after: 7d}")
    fixed = fixed.replace("base_url: }", 'base_url: "https://api.plivo.com"}')
    path.write_text(fixed)
    config = load_config(path, env={"NO_SUCH_TOKEN": "t"})
    assert config.declarations["a"].release_after == 7


def test_a_password_in_a_refused_base_url_is_not_repeated(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        version: 1
        providers:
          p: {type: plivo, auth_id: x, auth_token: y, base_url: "ftp://me:s3cret-pw@host/v1"}
        numbers: {}
        """,
    )
    problem = only_problem(path)
    assert problem.path == "providers.p.base_url" and "s3cret-pw" not in problem.message
    assert problem.message == "'ftp://***@host/v1': expected an http:// or https:// URL"


def test_a_block_left_empty_is_told_how_to_write_none(tmp_path: Path) -> None:
    """Deleting every declaration leaves `numbers:` (null): the hint says `{}`."""
    path = write(tmp_path, "version: 1\nproviders:\n  lab: {type: sandbox, apps: }\nnumbers:\n")
    messages = {p.path: p.message for p in problems_of(path)}
    assert messages == {
        "numbers": "expected a mapping, got nothing (null) (write {} for none)",
        "providers.lab.apps": "expected a list, got nothing (null) (write [] for none)",
    }
    path.write_text("version: 1\nproviders:\n  lab: {type: sandbox, apps: []}\nnumbers: {}\n")
    assert load_config(path, env={}).declarations == {}


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ('"1"', "'1' is not supported: expected 1 (a number: write it without quotes)"),
        ("true", "true is not supported: expected 1"),
        ("2", "2 is not supported: expected 1"),
    ],
)
def test_a_wrong_version_is_shown_as_yaml_writes_it(tmp_path: Path, written, message) -> None:
    path = write(
        tmp_path, f"version: {written}\nproviders: {{lab: {{type: sandbox}}}}\nnumbers: {{}}\n"
    )
    problem = only_problem(path)
    assert (problem.path, problem.message) == ("version", message)


@pytest.mark.parametrize("written", ["", "'²³'", "'0'", "-4", "'12a'"])
def test_a_voximplant_proof_of_address_is_a_numeric_id(tmp_path: Path, written: str) -> None:
    """Written empty (null), in digits that are not ASCII or not a positive id, the option
    used to pass and the purchase then sent nothing or a value Voximplant refuses."""
    text = (
        "version: 1\nproviders:\n  v: {type: voximplant}\nnumbers:\n"
        f"  a: {{provider: v, country: US, regulation_address_id: {written}}}\n"
    )
    problem = only_problem(write(tmp_path, text))
    assert problem.path == "numbers.a.regulation_address_id"
    assert "numeric id" in problem.message


def test_a_voximplant_proof_of_address_id_may_be_digits_or_a_number(tmp_path: Path) -> None:
    text = (
        "version: 1\nproviders:\n  v: {type: voximplant}\nnumbers:\n"
        "  a: {provider: v, country: US, regulation_address_id: 4411}\n"
        "  b: {provider: v, country: US, regulation_address_id: '4411'}\n"
    )
    declarations = load_config(write(tmp_path, text), env={}).declarations
    assert declarations["a"].options["regulation_address_id"] == 4411


def test_an_aculab_call_kind_that_is_no_boolean_is_its_one_problem(tmp_path: Path) -> None:
    """Not also "a toll-free number must accept calls from someone": the value written
    'true' may mean just that, so the one problem is the quotes."""
    text = (
        "version: 1\nproviders:\n  ac: {type: aculab}\nnumbers:\n"
        "  a: {provider: ac, country: GB, type: tollfree, allow_landline: 'true'}\n"
    )
    problem = only_problem(write(tmp_path, text))
    assert (problem.path, problem.message) == (
        "numbers.a.allow_landline",
        "allow_landline must be true or false",
    )


def test_a_misspelt_backend_still_has_its_misspelt_settings_named(tmp_path: Path) -> None:
    """`dsn` may be meant for the backend misspelt, so it is not called unknown; `pth` is
    no setting of any backend."""
    path = write(tmp_path, "state: {backend: postgress, dsn: x, pth: y}\n" + HEADER + "  {}\n")
    assert [(p.path, p.message) for p in problems_of(path)] == [
        ("state.backend", "'postgress' is not one of sqlite, postgres (did you mean 'postgres'?)"),
        ("state.pth", "unknown key 'pth' (did you mean 'path'?)"),
    ]


def test_a_base_url_from_the_environment_is_no_error_in_an_editor_but_must_resolve_to_a_url(
    tmp_path: Path,
) -> None:
    """Editors check the file as written: `base_url: ${PLIVO_URL}` (an emulator's address
    in CI) must pass the schema. Resolved, it must be a URL: a literal `$${` is refused."""
    schema = load_schema()
    editor_view = {
        "version": 1,
        "providers": {"p": {"type": "plivo", "base_url": "${URL}"}},
        "numbers": {},
    }
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(editor_view)) == []
    text = "version: 1\nproviders:\n  p: {type: plivo, base_url: '$${URL}'}\nnumbers: {}\n"
    problem = only_problem(write(tmp_path, text))
    assert (problem.path, problem.message) == (
        "providers.p.base_url",
        "expected an http:// or https:// URL",
    )
    text = "version: 1\nproviders:\n  p: {type: plivo, base_url: '${URL}'}\nnumbers: {}\n"
    loaded = load_config(write(tmp_path, text), env={"URL": "http://127.0.0.1:8080"})
    assert loaded.providers["p"].settings["base_url"] == "http://127.0.0.1:8080"
