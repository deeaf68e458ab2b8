"""Running the CLI as a user does, in a subprocess, against emulators and sandboxes.

Shared by the fault suite: every scenario here drives `python -m numbers_iac` in its own
process (so a kill is a real kill) and reads the provider's own records to judge it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

AUTH_ID = "MAFAULTS00000000001"
AUTH_TOKEN = "faults-token-s3cr3t"
ACULAB_USERNAME = "1-2-0/faults@example.invalid"
ACULAB_API_KEY = "aculab-faults-key-s3cr3t"
MM_API_KEY = "MMFAULTSKEY0000000001"
MM_API_SECRET = "mm-faults-secret-s3cr3t"
CALLR_API_KEY = "callr-faults-key-s3cr3t"
BUY = f"POST /v1/Account/{AUTH_ID}/PhoneNumber/"
MUTATIONS = ("POST", "DELETE")


def cli_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("PLIVO_", "NUMBERS_IAC_", "ACULAB_", "VOXIMPLANT_", "MESSAGEMEDIA_", "CALLR_")
        )
    }
    env.update({"NO_COLOR": "1", "PLIVO_AUTH_ID": AUTH_ID, "PLIVO_AUTH_TOKEN": AUTH_TOKEN})
    env.update({"ACULAB_USERNAME": ACULAB_USERNAME, "ACULAB_API_KEY": ACULAB_API_KEY})
    env.update({"MESSAGEMEDIA_API_KEY": MM_API_KEY, "MESSAGEMEDIA_API_SECRET": MM_API_SECRET})
    env.update({"CALLR_API_KEY": CALLR_API_KEY})
    env.update(extra)
    return env


#: credential values the CLI runs of this session were given: none may ever show up in what
#: they print or leave on disk (`leaked_secrets`, checked when the session ends)
SECRETS: set[str] = {AUTH_TOKEN, ACULAB_API_KEY, MM_API_SECRET, CALLR_API_KEY}
#: what every CLI run of this session printed, and the directories it ran in
PRODUCED: list[str] = []
DIRECTORIES: set[Path] = set()


def add_secret(value: str) -> None:
    """Register a credential for the sweep (a key file: pass a distinctive slice of it, since
    files and JSON may wrap or escape it)."""
    SECRETS.add(value)


def cli(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "numbers_iac", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=cli_env(**env),
        timeout=180,
    )
    PRODUCED.append(result.stdout + result.stderr)
    DIRECTORIES.add(Path(cwd))
    return result


def start(cwd: Path, *args: str, **env: str) -> subprocess.Popen:
    DIRECTORIES.add(Path(cwd))
    return subprocess.Popen(
        [sys.executable, "-m", "numbers_iac", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(**env),
    )


def leaked_secrets(
    outputs: list[str] | None = None, directories: set[Path] | None = None
) -> list[str]:
    """Where a registered credential shows up: in a CLI run's output, or in any file (plan,
    state, journal, account, report) under a directory a CLI run used. Files given to the CLI
    as input (the key file) are skipped: they hold the secret by design."""
    outputs = PRODUCED if outputs is None else outputs
    directories = DIRECTORIES if directories is None else directories
    found = []
    for index, text in enumerate(outputs):
        found += [f"CLI output #{index}: {secret[:4]}..." for secret in SECRETS if secret in text]
    for directory in directories:
        if not directory.is_dir():
            continue
        for path in directory.rglob("*"):
            if not path.is_file() or path.suffix == ".json" and "key" in path.name:
                continue
            data = path.read_bytes()
            found += [f"{path}: {secret[:4]}..." for secret in SECRETS if secret.encode() in data]
    return found


def killer(victim: dict[str, subprocess.Popen]) -> Callable[[str, str], None]:
    """An emulator hook that SIGKILLs the CLI the moment the provider has acted, before the
    CLI hears the answer."""

    def kill_now(method: str, path: str) -> None:
        process = victim.get("process")
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()

    return kill_now


def wait(process: subprocess.Popen, seconds: float = 120) -> tuple[str, str]:
    out, err = process.communicate(timeout=seconds)
    PRODUCED.append(out + err)
    return out, err


def converge(
    cwd: Path, settle: float, *flags: str, rounds: int = 3
) -> list[subprocess.CompletedProcess]:
    """Rerun apply until a plan shows no changes, waiting out the settle time first, as a
    user who reads "unresolved order" would. Fails if it takes more than `rounds`."""
    runs = []
    for _ in range(rounds):
        time.sleep(settle)
        runs.append(cli(cwd, "apply", "--auto-approve", *flags))
        plan = cli(cwd, "plan", "--detailed-exitcode")
        runs.append(plan)
        if plan.returncode == 0 and "unresolved" not in plan.stdout:
            return runs
    raise AssertionError("did not converge:\n" + "\n".join(r.stdout + r.stderr for r in runs))


def managed(cwd: Path) -> dict[str, list[str]]:
    """Declaration -> the numbers the state manages for it."""
    state = json.loads(cli(cwd, "state", "list", "--format", "json").stdout)
    by_declaration: dict[str, list[str]] = {}
    for row in state["numbers"]:
        by_declaration.setdefault(row["declaration"], []).append(row["number"])
    return by_declaration


def bought_once(log: list[tuple[str, str]]) -> Counter:
    buys = Counter(number for op, number in log if op == "buy")
    assert buys and set(buys.values()) == {1}, f"a number was bought twice: {buys}"
    return buys
