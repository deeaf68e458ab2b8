"""Feedback during long work: progress counts numbers, a bar on a terminal that clears when
done, plain lines every 10 s or 10 % in a log (and with TERM=dumb). The clock is injected:
no test waits or asserts wall-clock times."""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from numbers_iac import engine
from numbers_iac.cli import ListingProgress, StderrProgress
from numbers_iac.errors import StateError
from numbers_iac.model import Declaration, Desired, ProviderConfig, StateConfig
from numbers_iac.providers.sandbox import SandboxProvider
from numbers_iac.simulation import World
from numbers_iac.state.sqlite import SqliteStateStore
from tests.test_cli import run

BULK = """\
version: 1
providers:
  lab:
    type: sandbox
numbers:
  bulk:
    provider: lab
    country: FR
    type: local
    region: PARIS, FRANCE
    quantity: {quantity}
"""


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


# --------------------------------------------------------------------------- plain lines


def test_a_log_gets_a_line_every_tenth_of_the_work():
    out, clock = io.StringIO(), Clock()
    progress = StderrProgress("buying", stream=out, clock=clock, term="xterm")
    for done in range(1, 3001):
        clock.now += 0.001
        progress(done, 3000)
    progress.finish()
    lines = out.getvalue().splitlines()
    assert lines == [f"buying: {n:,} of 3,000 numbers" for n in range(300, 3001, 300)]
    assert "\r" not in out.getvalue()


def test_a_log_gets_a_line_every_ten_seconds_even_for_small_work():
    out, clock = io.StringIO(), Clock()
    progress = StderrProgress("listing lab", stream=out, clock=clock, term="")
    progress(1, 50)
    clock.now += 9.9
    progress(2, 50)
    assert out.getvalue() == ""  # small work that ends quickly prints nothing
    clock.now += 0.2
    progress(3, 50)
    clock.now += 1
    progress(4, 50)
    assert out.getvalue() == "listing lab: 3 of 50 numbers\n"
    clock.now += 10
    progress(7, None)
    progress.finish()
    assert out.getvalue().splitlines()[1:] == ["listing lab: 7 numbers so far"]


def test_finish_says_where_the_work_ended_once_a_line_was_printed():
    out, clock = io.StringIO(), Clock()
    progress = StderrProgress("applying", stream=out, clock=clock, term="")
    progress(1, 40)
    clock.now += 11
    progress(2, 40)
    progress(5, 40)  # an interrupted apply stops short of its total
    progress.finish()
    assert out.getvalue().splitlines() == [
        "applying: 2 of 40 numbers",
        "applying: 5 of 40 numbers",
    ]


def test_quick_small_work_prints_nothing_at_all():
    out = io.StringIO()
    progress = StderrProgress("buying", stream=out, clock=Clock(), term="")
    for done in range(1, 4):
        progress(done, 3)
    progress.finish()
    assert out.getvalue() == ""


# --------------------------------------------------------------------------- bars


def test_a_bar_on_a_terminal_is_cleared_when_done():
    out = Terminal()
    progress = StderrProgress("listing lab", stream=out, clock=Clock(), term="xterm-256color")
    for done in (20, 40, 57):
        progress(done, 57)
    text = out.getvalue()
    assert "\rlisting lab [" in text and "57/57" in text
    assert "\n" not in text  # no line left behind
    last_draw = text.rsplit("\r", 2)[-2]
    assert text.endswith("\r" + " " * len(last_draw) + "\r")


def test_an_error_ending_a_listing_early_does_not_land_on_its_bar():
    out = Terminal()
    bars = ListingProgress(lambda label: StderrProgress(label, stream=out, term="xterm"))
    with pytest.raises(StateError), bars:
        listing = bars("listing lab")
        listing(40, 100)
        raise StateError("state file state.sqlite is damaged")  # what the CLI prints next
    text = out.getvalue()
    assert text.startswith("\rlisting lab [")  # the bar was drawn
    assert text.endswith("\r") and text.rsplit("\r", 2)[1].strip() == ""  # then erased


def test_term_dumb_gets_plain_lines_instead_of_a_bar():
    out = Terminal()
    progress = StderrProgress("buying", stream=out, clock=Clock(), term="dumb")
    for done in range(1, 201):
        progress(done, 200)
    assert "\r" not in out.getvalue() and "[" not in out.getvalue()
    assert out.getvalue().splitlines()[-1] == "buying: 200 of 200 numbers"


def test_the_apply_label_says_what_it_does():
    def plan(*kinds):
        class Action:
            def __init__(self, kind):
                self.kind = kind

        class Plan:
            actions = tuple(Action(kind) for kind in kinds)

        return Plan()

    assert StderrProgress.for_apply(plan("purchase", "purchase")).label == "buying"
    assert StderrProgress.for_apply(plan("release")).label == "releasing"
    assert StderrProgress.for_apply(plan("purchase", "release")).label == "applying"


# --------------------------------------------------------------------------- the executor


def _apply_seen(tmp_path, world: World, declarations: dict[str, Declaration]):
    """Plan and apply on the sandbox; the report and every progress call (done, total)."""
    desired = Desired(
        "numbers.yaml",
        "x",
        {"lab": ProviderConfig("lab", "sandbox", {})},
        declarations,
        StateConfig(),
    )
    seen: list[tuple[int, int | None]] = []
    with SqliteStateStore(tmp_path / "state.sqlite") as store:
        providers = engine.Providers(desired, lambda config: SandboxProvider(config, world=world))
        plan = engine.make_plan(desired, providers, store)
        report = engine.apply_plan(
            plan,
            desired,
            providers,
            store,
            allow_release=False,
            progress=lambda done, total: seen.append((done, total)),
        )
    return plan, report, seen


def test_apply_progress_advances_per_number_bought_not_per_action(tmp_path):
    plan, report, seen = _apply_seen(
        tmp_path,
        World.from_seed({}),
        {
            "bulk": Declaration("bulk", "lab", 30, country="FR", number_type="local"),
            "hot": Declaration(
                "hot", "lab", 1, country="FR", number_type="local", pinned=("+33322000001",)
            ),
        },
    )
    assert len(plan.actions) == 2
    assert report.ok
    assert {total for _, total in seen} == {31}
    assert [done for done, _ in seen] == list(range(1, 32))  # one step per number bought


def test_apply_progress_ends_at_what_was_bought_when_stock_runs_out(tmp_path):
    """Not "buying: 8 of 8" when 5 were for sale: the failed rest is no work done."""
    group = {
        "group_id": "fr-5",
        "country": "FR",
        "number_type": "local",
        "prefix": "3322",
        "stock": 5,
        "setup": "0",
        "monthly": "1",
    }
    _, report, seen = _apply_seen(
        tmp_path,
        World.from_seed({"catalogue": [group]}),
        {"bulk": Declaration("bulk", "lab", 8, country="FR", number_type="local")},
    )
    assert not report.ok
    assert seen[-1] == (5, 8)


# --------------------------------------------------------------------------- as a user sees it


def test_a_ci_log_shows_a_large_purchase_advancing(tmp_path):
    (tmp_path / "numbers.yaml").write_text(BULK.format(quantity=300))
    result = run(tmp_path, "apply", "--auto-approve")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("buying: ")]
    done = [int(line.split()[1]) for line in lines]
    # a line every tenth (a slow machine may add one every 10 s), advancing to the end
    assert set(range(30, 301, 30)) <= set(done) and done == sorted(set(done))
    assert lines[-1] == "buying: 300 of 300 numbers"
    assert "\r" not in result.stderr


def _run_on_a_terminal(cwd: Path, term: str, *args: str) -> tuple[int, str]:
    """Runs the CLI with stderr on a pseudo-terminal; returns its exit code and stderr."""
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "NUMBERS_IAC_CONFIG"}
    env.update({"NO_COLOR": "1", "TERM": term})
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        process = subprocess.run(
            [sys.executable, "-m", "numbers_iac", *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=follower,
            env=env,
            timeout=120,
        )
    finally:
        os.close(follower)
        reader.join(timeout=10)
        os.close(leader)
    # the terminal's line discipline turns \n into \r\n
    return process.returncode, b"".join(chunks).decode().replace("\r\n", "\n")


@pytest.mark.parametrize("term", ["xterm", "dumb"])
def test_on_a_terminal_a_bar_clears_and_term_dumb_gets_lines(tmp_path, term):
    (tmp_path / "numbers.yaml").write_text(BULK.format(quantity=150))
    code, stderr = _run_on_a_terminal(tmp_path, term, "apply", "--auto-approve")
    assert code == 0, stderr
    if term == "dumb":
        assert "\r" not in stderr and "[" not in stderr
        assert "buying: 150 of 150 numbers" in stderr.splitlines()
    else:
        assert re.search(r"\rbuying \[#+-*\] 75/150", stderr)
        assert "150/150" in stderr
        assert stderr.rstrip(" ").endswith("\r")  # the last bar was erased
        assert "\n" not in stderr.split("buying [", 1)[1]  # and left no line behind
