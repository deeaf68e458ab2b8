"""The command line's contract with pipelines and people (issue 16), as a user runs it: a
subprocess, a YAML file, the sandbox on local disk. Usage errors, flag spellings, closed
pipes, the emulator's port, offline validation, the schema command, `state list` on a fresh
checkout, coloured error lines, and saved plan files that are not plans.

Only loopback addresses appear here: Plivo configurations point at 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "numbers.yaml"

SANDBOX = """\
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
    quantity: 2
    app: support-ivr
  hotline:
    provider: lab
    numbers: ["+33 3 22 00 00 01"]
    app: support-ivr
"""

#: credentials from variables nobody sets; base_url on a closed loopback port, so that even a
#: mistake here cannot reach the real API
PLIVO = """\
version: 1
providers:
  voice:
    type: plivo
    base_url: http://127.0.0.1:9
    auth_id: ${CONTRACT_PLIVO_ID}
    auth_token: ${CONTRACT_PLIVO_TOKEN}
numbers:
  support-fr:
    provider: voice
    country: ${CONTRACT_COUNTRY}
    quantity: 1
"""


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PLIVO_", "NUMBERS_IAC_", "CONTRACT_")) and k != "NO_COLOR"
    }
    env.update(extra)
    return env


def run(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "numbers_iac", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=clean_env(NO_COLOR="1") if env is None else env,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The single `error:` line of a failed run: exit 1, nothing else on stderr."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "numbers.yaml").write_text(SANDBOX)
    return tmp_path


# --------------------------------------------------------------------------- usage errors


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["plan", "--tagret", "x"], "Did you mean '--target'?"),
        (["plan", "--detailed-exitcode", "--tagret", "x"], "--tagret"),
        (["plan", "--format", "yaml"], "'yaml' is not one of"),
        (["state", "list", "--format", "markdown"], "'markdown' is not one of"),
        (["inventory", "lab"], "--country"),
        (["import"], "PROVIDER"),
        (["state", "forget"], "NAME|NUMBER"),
        (["plna"], "plna"),
        (["state", "lsit"], "lsit"),
        (["--colour", "plan"], "--colour"),
        (["apply", "--lock-timeout", "soon"], "soon"),
        (["state", "journal", "--limit", "0"], "--limit"),
    ],
)
def test_a_usage_error_is_one_error_line_and_exit_1(project, args, words):
    """Never click's exit 2, which `plan --detailed-exitcode` gives to "changes"."""
    result = run(project, *args)
    line = one_error_line(result)
    assert words in line
    assert result.stdout == ""
    assert not (project / ".numbers-iac").exists()


def test_numbers_iac_alone_shows_its_help(project):
    result = run(project)
    assert result.returncode == 0, result.stderr
    assert "Commands:" in result.stdout and "plan" in result.stdout


# --------------------------------------------------------------------------- -c and --no-color


def test_config_and_no_color_work_after_the_command(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "f.yaml").write_text(SANDBOX)
    for args in (
        ["validate", "-c", "conf/f.yaml"],
        ["validate", "--config", "conf/f.yaml", "--no-color"],
        ["validate", "--config=conf/f.yaml"],
        ["validate", "-cconf/f.yaml"],
        ["-c", "missing.yaml", "validate", "-c", "conf/f.yaml"],  # the later one counts
        ["plan", "-c", "conf/f.yaml", "--no-color", "--target", "hotline"],
        ["state", "list", "-c", "conf/f.yaml"],
        ["state", "-c", "conf/f.yaml", "journal", "--no-color"],
        ["inventory", "lab", "--country", "FR", "-c", "conf/f.yaml"],
    ):
        result = run(tmp_path, *args)
        assert result.returncode == 0, (args, result.stderr)
        assert "\x1b[" not in result.stdout + result.stderr


def test_config_before_the_command_still_works(tmp_path):
    (tmp_path / "f.yaml").write_text(SANDBOX)
    result = run(tmp_path, "-c", "f.yaml", "--no-color", "validate")
    assert result.returncode == 0, result.stderr
    assert ": valid (2 declarations" in result.stdout


# --------------------------------------------------------------------------- one dash


def test_every_long_option_takes_terraforms_single_dash(project):
    """`-target=x`, `-no-color`, `-allow-release` as well as `-out` and `-auto-approve`."""
    double = run(project, "plan", "--target", "hotline", "--detailed-exitcode", "--no-color")
    assert double.returncode == 2, double.stderr
    for args in (
        ["plan", "-target=hotline", "-detailed-exitcode", "-no-color"],
        ["plan", "-target", "hotline", "-detailed-exitcode", "-format=text"],
        ["-no-color", "plan", "-target=hotline", "-detailed-exitcode"],
        ["-config=numbers.yaml", "plan", "-target=hotline", "-detailed-exitcode"],
        ["plan", "-config", "numbers.yaml", "-target=hotline", "-detailed-exitcode"],
    ):
        result = run(project, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stdout == double.stdout, args

    saved = run(project, "plan", "-target=hotline", "-out=plan.json")
    assert saved.returncode == 0, saved.stderr
    assert (project / "plan.json").is_file()
    applied = run(project, "apply", "plan.json", "-allow-release", "-no-color")
    assert applied.returncode == 0, applied.stderr
    again = run(project, "apply", "-auto-approve", "-allow-release", "-lock-timeout=5")
    assert again.returncode == 0, again.stderr

    journal = run(project, "state", "journal", "-limit=1", "-format=json", "-all")
    assert journal.returncode == 0, journal.stderr
    assert len(json.loads(journal.stdout)) == 1
    listed = run(project, "state", "list", "-format", "json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["numbers"]


def test_single_dash_values_and_help_are_click_s_own(project):
    """An option's value is never respelt, `-h`/`-help` show help, a negative number is a
    value, and an unknown single-dash word is still a usage error."""
    negative = run(project, "apply", "-auto-approve", "-lock-timeout", "-1")
    assert "--lock-timeout must be a number of seconds" in one_error_line(negative)
    for flag in ("-h", "-help", "--help"):
        shown = run(project, "plan", flag)
        assert shown.returncode == 0 and "--target" in shown.stdout, flag
    assert "Did you mean '--target'?" in one_error_line(run(project, "plan", "-tagret=x"))
    version = run(project, "-version")
    assert version.returncode == 0 and "numbers-iac, version" in version.stdout


# --------------------------------------------------------------------------- closed pipes


def run_with_stdout(
    cwd: Path, stdout: Any, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "numbers_iac", *args],
        cwd=cwd,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        env=env or clean_env(NO_COLOR="1"),
        timeout=60,
    )


def env_unbuffered(value: str) -> dict[str, str]:
    """The environment with PYTHONUNBUFFERED set to `value` ("" unset)."""
    env = clean_env(NO_COLOR="1")
    env.pop("PYTHONUNBUFFERED", None)
    return {**env, "PYTHONUNBUFFERED": value} if value else env


def run_into_a_closed_pipe(cwd: Path, *args: str) -> tuple[int, str]:
    """Run with stdout a pipe whose reader has already gone, as `| head -1` ends up."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = run_with_stdout(cwd, write_end, *args)
    finally:
        os.close(write_end)
    return proc.returncode, proc.stderr


@pytest.mark.parametrize(
    "args",
    [["state", "list"], ["state", "journal"], ["state", "list", "--format", "json"], ["plan"]],
)
def test_a_closed_pipe_ends_quietly(project, args):
    assert run(project, "apply", "--auto-approve").returncode == 0
    code, stderr = run_into_a_closed_pipe(project, *args)
    assert stderr == ""
    assert code in (0, 141)


@pytest.mark.skipif(not hasattr(os, "pipe2") or sys.platform != "linux", reason="Linux pipes")
@pytest.mark.parametrize("unbuffered", ["1", ""])
def test_a_reader_that_goes_away_mid_output_ends_it_with_141(tmp_path, unbuffered):
    """`numbers-iac schema | head -1`: the reader takes a line and goes while the output is
    still being written. With PYTHONUNBUFFERED=1 (set in many CI images) the write that the
    pipe took only part of used to drop the rest in silence and exit 0, as it would on a
    full disk (half a JSON file, exit 0)."""
    import fcntl

    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, getattr(fcntl, "F_SETPIPE_SZ", 1031), 4096)
    proc = subprocess.Popen(
        [sys.executable, "-m", "numbers_iac", "schema"],
        cwd=tmp_path,
        stdout=write_end,
        stderr=subprocess.PIPE,
        env=env_unbuffered(unbuffered),
    )
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        assert reader.readline().startswith(b"{")
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 141 and stderr == b""


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("unbuffered", ["1", ""])
@pytest.mark.parametrize("args", [["schema"], ["validate"]])
def test_output_to_a_full_disk_is_an_error_not_a_bug_nor_a_success(tmp_path, unbuffered, args):
    """`numbers-iac schema > schema.json` on a full disk: exit 1 and one line saying so
    (unbuffered, the write used to be cut short in silence with exit 0), a long output or a
    short one (left in the buffer, it must not fail again at exit with a traceback)."""
    (tmp_path / "numbers.yaml").write_text(
        "version: 1\nproviders:\n  lab:\n    type: sandbox\nnumbers: {}\n"
    )
    with open("/dev/full", "w") as full:
        result = run_with_stdout(tmp_path, full, *args, env=env_unbuffered(unbuffered))
    assert result.returncode == 1
    assert result.stderr == (
        "error: cannot write: No space left on device; the output is incomplete\n"
    )


# --------------------------------------------------------------------------- emulator port


def test_emulator_on_a_port_in_use_is_one_error_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(tmp_path, "emulator", "plivo", "--port", str(port), timeout=30)
    line = one_error_line(result)
    assert f"127.0.0.1:{port}" in line and "in use" in line


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_emulator_port_out_of_range_is_one_error_line(tmp_path, port):
    line = one_error_line(run(tmp_path, "emulator", "plivo", "--port", port, timeout=30))
    assert "--port" in line


# --------------------------------------------------------------------------- validate offline


def test_validate_needs_no_credentials(tmp_path):
    """Pull requests from forks have no secrets: validate passes, the commands that call a
    provider name what is missing."""
    (tmp_path / "numbers.yaml").write_text(PLIVO)
    validated = run(tmp_path, "validate")
    assert validated.returncode == 0, validated.stderr
    assert ": valid (1 declaration" in validated.stdout
    assert "${" not in validated.stdout + validated.stderr

    for args in (["plan"], ["apply", "--auto-approve"], ["inventory", "voice", "--country", "FR"]):
        result = run(tmp_path, *args)
        assert result.returncode == 1, args
        for name in ("CONTRACT_PLIVO_ID", "CONTRACT_PLIVO_TOKEN", "CONTRACT_COUNTRY"):
            assert name in result.stderr, (args, name)
    imported = run(tmp_path, "import", "voice", "--print")
    assert imported.returncode == 1 and "CONTRACT_PLIVO_TOKEN" in imported.stderr


def test_validate_still_reports_what_is_wrong_whatever_the_variables(tmp_path):
    text = PLIVO.replace("    quantity: 1\n", "    quantity: 1\n    lables: {team: a}\n")
    text = text.replace("    base_url:", "    timeout: ${CONTRACT_TIMEOUT}\n    base_url:")
    (tmp_path / "numbers.yaml").write_text(text)
    result = run(tmp_path, "validate")
    assert result.returncode == 1
    problems = result.stderr.splitlines()
    assert any("numbers.support-fr.lables" in p and "'labels'" in p for p in problems)
    # a variable is always text, set or not: a number setting cannot be one
    assert any("providers.voice.timeout: expected a number, got text" in p for p in problems)
    assert not any("CONTRACT_" in p for p in problems), problems


def test_the_state_commands_need_only_the_states_variables(tmp_path):
    text = PLIVO + "state:\n  path: ${CONTRACT_STATE_DIR}/state.sqlite\n"
    (tmp_path / "numbers.yaml").write_text(text)
    assert run(tmp_path, "validate").returncode == 0
    line = one_error_line(run(tmp_path, "state", "list"))
    assert "CONTRACT_STATE_DIR" in line and "CONTRACT_PLIVO_TOKEN" not in line
    env = clean_env(NO_COLOR="1", CONTRACT_STATE_DIR=str(tmp_path / "st"))
    listed = run(tmp_path, "state", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert not (tmp_path / "st").exists()


# --------------------------------------------------------------------------- the schema


def printed_schema(cwd: Path) -> dict:
    result = run(cwd, "schema")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_schema_command_prints_a_schema_that_validates_the_example(tmp_path):
    schema = printed_schema(tmp_path)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"].startswith("https://") and schema["$id"].endswith("numbers.schema.json")
    assert schema == json.loads((ROOT / "schemas" / "numbers.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(yaml.safe_load(EXAMPLE.read_text()))


@pytest.mark.parametrize(
    ("edit", "found"),
    [
        (("    labels: {team: support, ", "    lables: {team: support, "), "lables"),
        (("    apps: [support-ivr, sales-bot]", "    appz: [support-ivr]"), "appz"),
        (("    type: sandbox", "    type: sandbox\n    base_url: http://127.0.0.1:9"), "base_url"),
        (("    type: sandbox", "    type: twilio"), "twilio"),
        (("  backend: sqlite ", "  backend: postgres "), "dsn"),
        (("  backend: sqlite ", "  backend: sqlite\n  dsn: x "), "dsn"),
    ],
)
def test_the_schema_is_as_strict_as_validate(tmp_path, edit, found):
    """A misspelt key is flagged by an editor as validate flags it, and only the provider
    types and state backends this version has are offered."""
    schema = printed_schema(tmp_path)
    text = EXAMPLE.read_text()
    assert edit[0] in text
    broken = text.replace(edit[0], edit[1], 1)
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(yaml.safe_load(broken)))
    assert errors, edit
    assert any(found in error.message for error in errors), [e.message for e in errors]
    (tmp_path / "numbers.yaml").write_text(broken)
    assert run(tmp_path, "validate").returncode == 1


def test_the_schema_accepts_every_setting_each_type_takes(tmp_path):
    schema = printed_schema(tmp_path)
    config = yaml.safe_load(PLIVO)
    config["numbers"]["support-fr"]["country"] = "FR"
    config["providers"]["voice"].update(
        timeout=10, max_retries=2, rate_limit=[300, 5], write_alias=False, settle_time="1h"
    )
    config["providers"]["lab"] = {"type": "sandbox", "apps": ["a"], "page_size": 5}
    jsonschema.Draft202012Validator(schema).validate(config)


def test_a_shipped_provider_type_validates_without_credentials(tmp_path):
    """Voximplant has shipped (the "not available" path is tested with a planned type in
    tests/test_config.py): validating needs no key file."""
    (tmp_path / "numbers.yaml").write_text(
        "version: 1\nproviders:\n  vx: {type: voximplant}\nnumbers: {}\n"
    )
    result = run(tmp_path, "validate")
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------- state list


def test_state_list_on_a_fresh_checkout_creates_nothing(project):
    for args in (["state", "list"], ["state", "journal"], ["state", "journal", "--all"]):
        result = run(project, *args)
        assert result.returncode == 0, (args, result.stderr)
        assert not (project / ".numbers-iac").exists(), args
    listed = run(project, "state", "list")
    assert "No state file" in listed.stdout and "apply creates it" in listed.stdout
    as_json = run(project, "state", "list", "--format", "json")
    assert json.loads(as_json.stdout) == {"numbers": [], "pending_orders": []}
    assert not (project / ".numbers-iac").exists()


# --------------------------------------------------------------------------- colour


def run_on_a_terminal(cwd: Path, *args: str, env: dict[str, str]) -> tuple[int, str]:
    """Run with stderr on a pseudo-terminal; what it wrote there."""
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "numbers_iac", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    written = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        written += chunk
    os.close(master)
    return proc.wait(timeout=60), written.decode()


RED_BOLD_ERROR = "\x1b[31m\x1b[1merror:\x1b[0m"


@pytest.mark.parametrize("args", [["-c", "missing.yaml", "validate"], ["plan", "--tagret", "x"]])
def test_error_lines_are_red_on_a_terminal(tmp_path, args):
    code, written = run_on_a_terminal(tmp_path, *args, env=clean_env(TERM="xterm"))
    assert code == 1
    assert written.startswith(RED_BOLD_ERROR), repr(written)


@pytest.mark.parametrize(
    ("args", "extra_env"),
    [
        (["-c", "missing.yaml", "validate"], {"NO_COLOR": "1"}),
        (["--no-color", "-c", "missing.yaml", "validate"], {}),
        (["validate", "-c", "missing.yaml", "--no-color"], {}),
        (["plan", "--tagret", "x", "--no-color"], {}),
    ],
)
def test_error_lines_are_plain_without_colour(tmp_path, args, extra_env):
    code, written = run_on_a_terminal(tmp_path, *args, env=clean_env(TERM="xterm", **extra_env))
    assert code == 1
    assert written.startswith("error: ") and "\x1b[" not in written, repr(written)


def test_error_lines_are_plain_when_not_a_terminal(tmp_path):
    result = run(tmp_path, "-c", "missing.yaml", "validate", env=clean_env())
    assert one_error_line(result).startswith("error: missing.yaml")


# --------------------------------------------------------------------------- saved plan files


def test_a_deeply_nested_plan_file_is_one_error_line(project):
    (project / "deep.json").write_text("[" * 20_000 + "]" * 20_000)
    line = one_error_line(run(project, "apply", "deep.json"))
    assert "deep.json" in line and "nested" in line
    assert not (project / ".numbers-iac").exists()


@pytest.mark.parametrize("path", ["/dev/zero", "."])
def test_a_plan_file_that_is_not_a_regular_file_is_refused_at_once(project, path):
    if not os.path.exists(path):
        pytest.skip(f"no {path} here")
    line = one_error_line(run(project, "apply", path, timeout=30))
    assert "not a regular file" in line


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_plan_file_that_is_a_named_pipe_does_not_block(project):
    os.mkfifo(project / "plan.json")
    line = one_error_line(run(project, "apply", "plan.json", timeout=30))
    assert "not a regular file" in line


def test_saved_plan_hint_includes_allow_release_when_the_plan_releases(tmp_path):
    """The hint printed after `plan -out` is a command that works as written."""
    import subprocess
    import sys

    config = tmp_path / "numbers.yaml"
    body = (
        "version: 1\nproviders:\n  lab:\n    type: sandbox\nnumbers:\n"
        "  d:\n    provider: lab\n    country: FR\n    region: AMIENS, FRANCE\n    quantity: {q}\n"
    )
    run = lambda *a: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "numbers_iac", "-c", str(config), *a],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "NO_COLOR": "1"},
    )
    config.write_text(body.format(q=2))
    assert run("apply", "--auto-approve").returncode == 0
    config.write_text(body.format(q=1))
    saved = run("plan", "-out", str(tmp_path / "p.json"))
    assert f"numbers-iac apply --allow-release {tmp_path / 'p.json'}" in saved.stderr


def test_ctrl_c_while_the_cli_is_still_loading_is_one_line_not_a_traceback(tmp_path):
    """The CLI's imports take a moment; a Ctrl-C then (here: raised by the import of the
    CLI itself) ends as any interrupted command: one line, exit 130."""
    script = (
        "import builtins, runpy\n"
        "real = builtins.__import__\n"
        "def interrupted(name, *args, **kwargs):\n"
        "    if name == 'numbers_iac.cli':\n"
        "        raise KeyboardInterrupt\n"
        "    return real(name, *args, **kwargs)\n"
        "builtins.__import__ = interrupted\n"
        "runpy.run_module('numbers_iac', run_name='__main__', alter_sys=True)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, "plan"], cwd=tmp_path, capture_output=True, text=True
    )
    assert (result.returncode, result.stderr) == (130, "error: interrupted\n")


def test_ctrl_c_after_the_command_finished_keeps_its_exit_code(tmp_path):
    """The command's work is done and recorded; a Ctrl-C while Python closes down (here:
    sent by an exit handler) ends the process at once with the command's own exit code."""
    script = (
        "import atexit, os, signal, time, runpy\n"
        "def late():\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    time.sleep(5)\n"
        "atexit.register(late)\n"
        "runpy.run_module('numbers_iac', run_name='__main__', alter_sys=True)\n"
    )
    (tmp_path / "numbers.yaml").write_text(
        "version: 1\nproviders: {lab: {type: sandbox}}\nnumbers: {}\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, "validate"], cwd=tmp_path, capture_output=True, text=True
    )
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    assert ": valid (0 declarations, 1 provider)" in result.stdout
