"""The command line: parse flags, call the engine, pick a renderer, choose the exit code.

Exit codes follow Terraform: 0 success (no changes with --detailed-exitcode), 1 error,
2 changes present (--detailed-exitcode), and 3 when a safety rule refused an apply (needs a
human, not a retry). User errors print `error: ...` lines on stderr, never a traceback; a
usage error (an unknown flag, a bad choice) is one of them and exits 1, never click's 2, which
`--detailed-exitcode` gives to "changes". Every long option may be spelt with one dash, as
Terraform spells them (`-target=NAME`, `-no-color`); `-c/--config` and `--no-color` are taken
before or after the command.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import gc
import getpass
import io
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import click
import phonenumbers

from numbers_iac import __version__, engine, guards, planfile
from numbers_iac.config import DEFAULT_STATE_PATH, config_path_from, load_config, load_schema
from numbers_iac.errors import ConfigError, GuardError, NumbersIacError
from numbers_iac.executor import ApplyReport, check_guards
from numbers_iac.model import Desired, Plan, Recorded, StateConfig
from numbers_iac.render import render, tables
from numbers_iac.render.drift import render_drift
from numbers_iac.render.escape import for_terminal
from numbers_iac.render.report import render_report, report_json
from numbers_iac.render.text import apply_command, plural
from numbers_iac.state import open_store
from numbers_iac.state.base import StateStore

EXIT_CHANGES = 2
#: what a shell reports for a process killed by SIGPIPE (128 + 13): the reader of our output
#: went away, as in `numbers-iac state list | head -1`
EXIT_CLOSED_PIPE = 141
#: the date and time plan and apply take as now (ISO 8601; a date alone is its midnight UTC),
#: so a rehearsal or a test can see a cooling-off period end without waiting for it
NOW_ENV = "NUMBERS_IAC_NOW"


# --------------------------------------------------------------------------- plumbing


def use_color(stream: Any = None, no_color: bool = False) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    stream = stream or sys.stdout
    if no_color or os.environ.get("NO_COLOR"):
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


class StderrProgress:
    """Progress on stderr, counted in numbers (listed, bought, released...).

    On a terminal: a one-line bar, cleared when done. With `TERM=dumb`, or without a
    terminal (CI logs): no bar, but a plain line every `INTERVAL` seconds or every tenth of
    the work ("buying: 1,200 of 3,000 numbers"), so a log shows life; work under `SMALL`
    numbers that ends within the interval prints nothing. `clock` and `stream` are for tests.
    """

    INTERVAL = 10.0
    SMALL = 100
    WIDTH = 30

    def __init__(
        self,
        label: str,
        stream: Any = None,
        clock: Callable[[], float] = time.monotonic,
        term: str | None = None,
    ):
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        term = os.environ.get("TERM", "") if term is None else term
        self.bar = bool(getattr(self.stream, "isatty", lambda: False)()) and term != "dumb"
        self._drawn = 0  # characters of the bar on screen
        self._printed_at = clock()
        self._printed_step = 0  # tenths of the work the last plain line reported
        self._printed: int | None = None  # `done` the last plain line reported
        self._last: tuple[int, int | None] = (0, None)

    @classmethod
    def for_apply(cls, plan: Plan) -> StderrProgress:
        """The apply's progress, named after what it does: buying, releasing or applying."""
        kinds = {action.kind for action in plan.actions}
        label = {"purchase": "buying", "release": "releasing"}.get(
            next(iter(kinds)) if len(kinds) == 1 else "", "applying"
        )
        return cls(label)

    def __call__(self, done: int, total: int | None) -> None:
        self._last = (done, total)
        if self.bar:
            self._draw(done, total)
        else:
            self._plain(done, total)
        if total and done >= total:
            self.finish()

    def _draw(self, done: int, total: int | None) -> None:
        if total:
            filled = int(self.WIDTH * min(done, total) / total)
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            text = f"{self.label} [{bar}] {done:,}/{total:,}"
        else:
            text = f"{self.label} {done:,}"
        self._write("\r" + text.ljust(self._drawn))
        self._drawn = max(self._drawn, len(text))

    def _plain(self, done: int, total: int | None) -> None:
        now = self.clock()
        step = done * 10 // total if total else 0
        due = now - self._printed_at >= self.INTERVAL
        if total and total >= self.SMALL and step > self._printed_step:
            due = True
        if due and done != self._printed:
            self._line(done, total)
            self._printed_at, self._printed_step = now, step

    def _line(self, done: int, total: int | None) -> None:
        of = f"{done:,} of {total:,} numbers" if total else f"{done:,} numbers so far"
        self._write(f"{self.label}: {of}\n")
        self._printed = done

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def finish(self) -> None:
        """Clear the bar; in plain lines, say where the work ended if a line was printed."""
        if self._drawn:
            self._write("\r" + " " * self._drawn + "\r")
            self._drawn = 0
        done, total = self._last
        if not self.bar and self._printed is not None and done != self._printed:
            self._line(done, total)


class ListingProgress:
    """The progress of a command's listings: a `StderrProgress` per account, each finished
    when the command's work ends, so that an error ending a listing early (a provider's, or
    a state that cannot be read) starts on a line of its own instead of on a half-drawn
    bar. `make` is for tests."""

    def __init__(self, make: Callable[[str], StderrProgress] = StderrProgress):
        self._make = make
        self._made: list[StderrProgress] = []

    def __call__(self, label: str) -> StderrProgress:
        progress = self._make(label)
        self._made.append(progress)
        return progress

    def __enter__(self) -> ListingProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        for progress in self._made:
            progress.finish()


def echo_error(line: str, no_color: bool | None = None) -> None:
    """One `error: ...` line on stderr; "error:" in bold red, as Terraform shows it, when
    stderr is a terminal and colour is on (`no_color` None: as the command line asked)."""
    if no_color is None:
        no_color = _no_color_requested()
    label = (
        click.style("error:", fg="red", bold=True) if use_color(sys.stderr, no_color) else "error:"
    )
    click.echo(f"{label} {line}", err=True)


def _no_color_requested() -> bool:
    ctx = click.get_current_context(silent=True)
    options = ctx.find_object(Context) if ctx is not None else None
    return bool(options is not None and options.no_color)


#: a write the machine has no room for (a full disk, a quota, a file too large)
_NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn NumbersIacError into `error:` lines and its exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except NumbersIacError as exc:
            # messages quote names and provider text (app names in a plan-time problem): one
            # line per problem, and nothing in it may act on the terminal
            if isinstance(exc, ConfigError):
                lines = [str(problem) for problem in exc.problems]
            else:
                lines = str(exc).splitlines()
            for line in lines or [exc.__class__.__name__]:
                echo_error(for_terminal(line))
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            echo_error("interrupted")
            sys.exit(130)
        except click.exceptions.Abort:  # Ctrl-C or end of input at the `yes` prompt
            echo_error("cancelled. Nothing was changed.")
            sys.exit(1)
        except BrokenPipeError:  # whoever read our output went away (`| head`): end quietly
            _silence_stdout()
            sys.exit(EXIT_CLOSED_PIPE)
        except Exception as exc:  # noqa: BLE001 - a bug must still end in one readable line
            if os.environ.get("NUMBERS_IAC_DEBUG"):
                raise
            if isinstance(exc, OSError) and exc.errno in _NO_ROOM:
                # the machine's limit, not a bug: `plan -json > plan.json` on a full disk
                where = f" ({for_terminal(str(exc.filename))})" if exc.filename else ""
                echo_error(f"cannot write: {exc.strerror}{where}; the output is incomplete")
                _silence_stdout()  # what the full disk did not take is dropped, not retried
                sys.exit(1)
            echo_error(
                f"internal error (a bug in numbers-iac, please report it): "
                f"{type(exc).__name__}: {for_terminal(str(exc))}. Set NUMBERS_IAC_DEBUG=1 to see "
                "the traceback."
            )
            sys.exit(1)

    return wrapper


class Context:
    def __init__(self, config: str | None, no_color: bool):
        self.config_option = config
        self.no_color = no_color
        #: `safety:` limits given on the command line for this run (`--max-releases N`)
        self.limits: dict[str, Any] = {}

    def config_path(self, fallback: str | None = None) -> Path:
        """`-c`, else `fallback` (the configuration a saved plan was made from), else
        `$NUMBERS_IAC_CONFIG` or `./numbers.yaml`. A fallback that is gone (the plan was made
        in another checkout: a CI job's) gives way to `./numbers.yaml`; the plan's digest
        of the configuration still has to match."""
        default = config_path_from(self.config_option)
        if (
            self.config_option is None
            and fallback is not None
            and not os.environ.get("NUMBERS_IAC_CONFIG")
            and (os.path.exists(fallback) or not default.exists())
        ):
            return Path(fallback)
        return default

    def load(
        self, fallback: str | None = None, resolve_env: bool | frozenset[str] = True
    ) -> Desired:
        """The configuration; `resolve_env` as for `load_config`: commands that call no
        provider need not have its credentials."""
        desired = load_config(
            self.config_path(fallback), resolve_env=resolve_env, providers_on_use=True
        )
        if not self.limits:
            return desired
        return replace(
            desired,
            safety=guards.overridden(desired.safety, **self.limits),
            configured_safety=desired.safety,
        )

    def color(self, stream: Any = None) -> bool:
        return use_color(stream, self.no_color)


pass_context = click.make_pass_decorator(Context)


# --------------------------------------------------------------------------- parsing


def terraform_spelling(command: click.Command, ctx: click.Context, args: list[str]) -> list[str]:
    """`args` with Terraform's single-dash spelling of long options made click's:
    `-target=x` -> `--target=x`, `-no-color` -> `--no-color`, `-out f` -> `--out f`.

    Short options (`-c FILE`, `-cFILE`, `-h`), option values (`--target -x`), arguments and
    everything after `--` are left as they are; a group stops at its subcommand, which reads
    its own options. A single-dash word that is no option at all is respelt too, so that
    click's error names it and suggests the option meant (`-tagret` -> "Did you mean
    '--target'?") instead of complaining about `-t`."""
    long_options: set[str] = set()
    short_options: set[str] = set()
    value_options: set[str] = set()
    for param in command.get_params(ctx):
        if isinstance(param, click.Option):
            names = [*param.opts, *param.secondary_opts]
            long_options.update(name for name in names if name.startswith("--"))
            short_options.update(name for name in names if not name.startswith("--"))
            if not param.is_flag and not param.count:
                value_options.update(names)
    spelt: list[str] = []
    tokens = iter(args)
    for token in tokens:
        if token == "--":
            spelt.extend([token, *tokens])
            break
        name, equals, _ = token.partition("=")
        if _single_dash_long(name, long_options, short_options):
            token, name = "-" + token, "-" + name
        spelt.append(token)
        if not token.startswith("-") or token == "-":  # an argument
            if isinstance(command, click.Group):
                spelt.extend(tokens)
                break
        elif name in value_options and not equals:
            value = next(tokens, None)  # the option's value, whatever it looks like
            if value is not None:
                spelt.append(value)
    return spelt


def _single_dash_long(name: str, long_options: set[str], short_options: set[str]) -> bool:
    """Whether `name` (a token up to its `=`) is a long option written with one dash."""
    if not name.startswith("-") or name.startswith("--") or len(name) < 3:
        return False
    if "-" + name in long_options:
        return True
    return name[:2] not in short_options and name[1].isalpha()


class TerraformSpelling:
    """Parses a command's arguments after `terraform_spelling`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        assert isinstance(self, click.Command)
        return super().parse_args(ctx, terraform_spelling(self, ctx, args))  # type: ignore[misc]


class NumbersIacCommand(TerraformSpelling, click.Command):
    """A subcommand: Terraform's spelling of its options."""


#: the cyclic garbage collector's thresholds for one CLI run (CPython's default: 700, 10, 10)
GC_THRESHOLDS = (20_000, 50, 50)


@contextlib.contextmanager
def collecting_garbage_less_often() -> Iterator[None]:
    """Run CPython's cycle collector less often than its defaults do, for one command.

    Why: a plan at 100,000 numbers keeps a few hundred thousand objects alive (the state's
    records, the listing, the plan), and with the default thresholds the collector walks
    all of them again and again while they are built: a third of the CPU of an Aculab plan,
    and more on the paged providers, whose requests allocate throughout. What this program
    frees is freed by reference counting; the rare cycles (exceptions, threads) wait a
    little longer. `bench/run.py` shows the effect. The previous thresholds come back when
    the command ends, for a program that runs the CLI in its own process (tests do).
    """
    before = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)


class NumbersIacGroup(TerraformSpelling, click.Group):
    """The `numbers-iac` group (and `state`): Terraform's spelling of options, and the
    command line's contract whatever click's version does by default: a usage error is one
    `error:` line and exit 1, and a reader that goes away (`| head`) ends it quietly."""

    command_class = NumbersIacCommand
    group_class = type  # subgroups are NumbersIacGroup too

    def main(  # type: ignore[override]
        self,
        args: list[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:  # a caller that handles click's exceptions itself
            return super().main(args, prog_name, complete_var, False, **extra)
        args = sys.argv[1:] if args is None else list(args)
        _whole_writes_to_stdout()
        try:
            try:
                with collecting_garbage_less_often():
                    code = self._run(args, prog_name, complete_var, **extra)
            finally:
                sys.stdout.flush()  # here, while a closed pipe can still be caught
        except BrokenPipeError:
            _silence_stdout()
            sys.exit(EXIT_CLOSED_PIPE)
        sys.exit(code)

    def _run(
        self, args: list[str], prog_name: str | None, complete_var: str | None, **extra: Any
    ) -> int:
        no_color = any(arg in ("--no-color", "-no-color") for arg in args)
        try:
            result = super().main(args, prog_name, complete_var, False, **extra)
        except click.exceptions.UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # `numbers-iac` alone: its help
                click.echo(exc.format_message())
                return 0
            echo_error(_usage_error_text(exc), no_color=no_color or _no_color_requested())
            return 1
        except click.ClickException as exc:  # e.g. a file option that cannot be opened
            echo_error(for_terminal(exc.format_message()), no_color=no_color)
            return 1
        except click.exceptions.Abort:
            echo_error("interrupted", no_color=no_color)
            return 130
        return result if isinstance(result, int) else 0


def _usage_error_text(exc: click.exceptions.UsageError) -> str:
    """click's message on one line, with where to read the options (its own suggestion, such
    as "Did you mean '--target'?", stays in the message)."""
    text = " ".join(for_terminal(exc.format_message()).split())
    if exc.ctx is not None:
        text += f" See '{exc.ctx.command_path} --help'."
    return text


def _whole_writes_to_stdout() -> None:
    """Give stdout a buffered layer when it has none (PYTHONUNBUFFERED=1, `python -u`).
    Unbuffered, a write the file takes only part of (a pipe whose reader went away, a full
    disk) loses the rest in silence and the command ends with exit 0: `state list --format
    json > backup.json` could leave half a file. A buffered writer writes the rest or
    raises (BrokenPipeError: exit 141; any other OSError: an error). Every output is
    flushed as it is written (click.echo), so nothing is held back."""
    stream = sys.stdout
    if not isinstance(getattr(stream, "buffer", None), io.RawIOBase):
        return
    sys.stdout = io.TextIOWrapper(
        io.BufferedWriter(stream.buffer),
        encoding=stream.encoding,
        errors=stream.errors,
        line_buffering=stream.line_buffering,
    )


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that flushing what is left at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _remember_config(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        _options(ctx).config_option = value


def _remember_no_color(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        _options(ctx).no_color = True


def _options(ctx: click.Context) -> Context:
    options = ctx.find_object(Context)
    if options is None:  # a subcommand invoked on its own, as tests may
        options = ctx.obj = Context(None, False)
    return options


def now() -> datetime:
    """The clock plan and apply go by: `$NUMBERS_IAC_NOW` when set, else the system's."""
    written = os.environ.get(NOW_ENV, "").strip()
    if not written:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(written)
    except ValueError:
        raise NumbersIacError(
            f"{NOW_ENV} must be an ISO 8601 date or time (like 2026-12-27 or "
            f"2026-12-27T09:30:00+00:00), got {for_terminal(written)!r}"
        ) from None
    # dates (cooling-off ends) are UTC days, whatever zone the time was written in
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


class DecimalRange(click.ParamType):
    """A decimal amount from `low` up to `high` (None: no upper bound)."""

    name = "amount"

    def __init__(self, low: Decimal, high: Decimal | None = None):
        self.low, self.high = low, high

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, Decimal):
            return value
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            amount = None
        if (
            amount is None
            or not amount.is_finite()
            or amount < self.low
            or (self.high is not None and amount > self.high)
        ):
            wanted = (
                f"between {self.low} and {self.high}"
                if self.high is not None
                else f"of at least {self.low}"
            )
            self.fail(f"{value!r} is not a number {wanted}.", param, ctx)
        return amount


def _remember_limit(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value is not None:
        _options(ctx).limits[str(param.name)] = value


def safety_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--max-purchases N` and its siblings: the `safety:` limits, for this run only."""
    options = [
        ("--max-purchases", click.IntRange(min=0), "N", "Numbers an apply may buy."),
        ("--max-releases", click.IntRange(min=0), "N", "Numbers an apply may release."),
        (
            "--max-release-percent",
            DecimalRange(Decimal(0), Decimal(100)),
            "PERCENT",
            "Share of a provider's managed numbers an apply may release.",
        ),
        (
            "--max-monthly-increase",
            DecimalRange(Decimal(0)),
            "AMOUNT",
            "Monthly cost an apply may add, in the plan's currency.",
        ),
    ]
    for flag, kind, metavar, text in reversed(options):
        command = click.option(
            flag,
            type=kind,
            metavar=metavar,
            expose_value=False,
            callback=_remember_limit,
            help=f"{text} Overrides safety: for this run.",
        )(command)
    return command


_CONFIG_HELP = "Declarations file (default: $NUMBERS_IAC_CONFIG, else ./numbers.yaml)."
_NO_COLOR_HELP = "Plain output (also when NO_COLOR is set)."


def no_color_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--no-color`, taken after the command as well as before it."""
    return click.option(
        "--no-color",
        is_flag=True,
        expose_value=False,
        callback=_remember_no_color,
        help=_NO_COLOR_HELP,
    )(command)


def config_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """`-c/--config` and `--no-color`, taken after the command as well as before it
    (`numbers-iac plan -c f.yaml`); given in both places, the later one counts."""
    command = click.option(
        "-c",
        "--config",
        metavar="FILE",
        expose_value=False,
        callback=_remember_config,
        help=_CONFIG_HELP,
    )(command)
    return no_color_option(command)


@click.group(cls=NumbersIacGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--config", metavar="FILE", default=None, help=_CONFIG_HELP)
@click.option("--no-color", is_flag=True, help=_NO_COLOR_HELP)
@click.version_option(__version__, prog_name="numbers-iac")
@click.pass_context
def main(ctx: click.Context, config: str | None, no_color: bool) -> None:
    """Phone numbers as code: declare numbers in YAML, plan, apply.

    Every long option may also be spelt with one dash, as in Terraform: -out FILE,
    -target=NAME, -auto-approve, -no-color. A usage error exits 1.
    """
    ctx.obj = Context(config, no_color)


# --------------------------------------------------------------------------- validate


@main.command()
@config_options
@pass_context
@handle_errors
def validate(ctx: Context) -> None:
    """Check the declarations file; exit 0 if valid, 1 with one line per problem if not.

    Needs no credentials: a ${VAR} that is not set is not read (plan, apply, import and
    inventory report it), so pull requests from forks validate in CI."""
    desired = ctx.load(resolve_env=False)
    click.echo(
        f"{desired.config_path}: valid ({plural(len(desired.declarations), 'declaration')}, "
        f"{plural(len(desired.providers), 'provider')})"
    )


# --------------------------------------------------------------------------- plan


@main.command()
@click.option("--out", "out", metavar="FILE", help="Save the plan for `apply FILE`.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
)
@click.option(
    "--detailed-exitcode",
    "detailed",
    is_flag=True,
    help="Exit 0 when there are no changes, 2 when there are, 1 on error.",
)
@click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="NAME",
    help="Plan only this declaration (repeatable).",
)
@click.option(
    "--accept-missing",
    multiple=True,
    metavar="NAME",
    help="Forget managed numbers of NAME that vanished from the provider (released elsewhere).",
)
@click.option(
    "--replace",
    "replace_names",
    multiple=True,
    metavar="NAME",
    help="Release the numbers of removed declaration NAME (and buy anew) instead of moving "
    "them into a new declaration that fits them (IRREVERSIBLE with --allow-release).",
)
@safety_options
@config_options
@pass_context
@handle_errors
def plan(
    ctx: Context,
    out: str | None,
    fmt: str,
    detailed: bool,
    targets: tuple[str, ...],
    accept_missing: tuple[str, ...],
    replace_names: tuple[str, ...],
) -> None:
    """Show what apply would change, and what it would cost."""
    desired = ctx.load()
    with (
        _store_to_read(desired) as store,
        engine.Providers(desired) as providers,
        ListingProgress() as listing,
    ):
        the_plan = engine.make_plan(
            desired,
            providers,
            store,
            targets=targets,
            accept_missing=accept_missing,
            replace_names=replace_names,
            progress=listing,
            now=now(),
        )
        refusal = _refusal(the_plan, desired, store) if out else None
    _echo_lines(render(the_plan, fmt, color=ctx.color(), plan_file=out, cwd=os.getcwd()))
    if out:
        planfile.save(the_plan, out)
        hint = (
            f"apply would refuse it as it stands: {refusal}"
            if refusal
            else f"To apply exactly this plan: {apply_command(the_plan, out)}"
        )
        click.echo(f"\nSaved the plan to {out}. {hint}", err=True)
    if detailed and the_plan.has_drift:
        sys.exit(EXIT_CHANGES)


# --------------------------------------------------------------------------- apply


@main.command()
@click.argument("planfile_path", metavar="[PLANFILE]", required=False)
@click.option(
    "--auto-approve",
    "auto_approve",
    is_flag=True,
    help="Do not ask for confirmation.",
)
@click.option(
    "--allow-release",
    is_flag=True,
    help="Permit releases (IRREVERSIBLE). Protected numbers are never released.",
)
@click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="NAME",
    help="Apply only this declaration (repeatable).",
)
@click.option("--accept-missing", multiple=True, metavar="NAME", help="As for plan.")
@click.option(
    "--replace",
    "replace_names",
    multiple=True,
    metavar="NAME",
    help="As for plan.",
)
@click.option(
    "--lock-timeout",
    default=0.0,
    type=float,
    metavar="SECONDS",
    help="Wait this long for the state lock.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: print a machine-readable report of every action's result and numbers on "
    "stdout (the plan goes to stderr).",
)
@safety_options
@config_options
@pass_context
@handle_errors
def apply(
    ctx: Context,
    planfile_path: str | None,
    auto_approve: bool,
    allow_release: bool,
    targets: tuple[str, ...],
    accept_missing: tuple[str, ...],
    replace_names: tuple[str, ...],
    lock_timeout: float,
    fmt: str,
) -> None:
    """Apply the changes: from a saved PLANFILE exactly, or plan now and ask for `yes`."""
    if not math.isfinite(lock_timeout) or lock_timeout < 0:
        raise NumbersIacError(
            f"--lock-timeout must be a number of seconds, 0 or more (got {lock_timeout:g}). "
            "Nothing was changed."
        )
    saved = planfile.load(planfile_path) if planfile_path else None
    if saved and (targets or accept_missing or replace_names):
        raise NumbersIacError(
            "--target, --accept-missing and --replace belong to plan when applying a saved plan"
        )
    desired = ctx.load(saved.config_path if saved else None)
    clock = now()
    holder = f"numbers-iac apply by {_user()}"
    with (
        open_store(desired.state) as store,
        engine.Providers(desired) as providers,
        store.lock(holder, lock_timeout, _say_waiting),
        ListingProgress() as listing,
    ):
        if saved:
            engine.check_fresh(saved, desired, providers, store, now=clock)
            the_plan = saved
        else:
            the_plan = engine.make_plan(
                desired,
                providers,
                store,
                targets=targets,
                accept_missing=accept_missing,
                replace_names=replace_names,
                progress=listing,
                now=clock,
            )
        # with --format json, stdout holds the report alone: the plan is for the log
        plan_stream = sys.stderr if fmt == "json" else sys.stdout
        click.echo(render(the_plan, "text", color=ctx.color(plan_stream)), file=plan_stream)
        if not the_plan.has_changes:
            if the_plan.recognised:  # state-only: nothing to approve, no guard concerned
                engine.apply_plan(
                    the_plan, desired, providers, store, allow_release=False, now=clock
                )
                click.echo(
                    f"Recorded {plural(len(the_plan.recognised), 'number')} the provider "
                    "already shows as declared in the state.",
                    err=True,
                )
            if fmt == "json":
                click.echo(report_json(ApplyReport("")))
            return
        try:
            check_guards(the_plan, desired, store.load().numbers, allow_release, today=clock.date())
        except GuardError as exc:  # a pipeline reading stdout still gets its document
            if fmt == "json":
                click.echo(report_json(ApplyReport(""), refused=str(exc)))
            raise
        if not saved and not auto_approve:
            _confirm()
        progress = StderrProgress.for_apply(the_plan)
        try:
            report = engine.apply_plan(
                the_plan,
                desired,
                providers,
                store,
                allow_release=allow_release,
                progress=progress,
                now=clock,
            )
        finally:  # an error line must not land on the bar
            progress.finish()
    if fmt == "json":
        click.echo(report_json(report))
    else:
        click.echo("")
        click.echo(render_report(report, color=ctx.color()))
    if not report.ok:
        sys.exit(1)


def _confirm() -> None:
    if not sys.stdin.isatty():
        raise NumbersIacError(
            "apply needs confirmation but stdin is not a terminal; pass --auto-approve or "
            "apply a saved plan (plan -out FILE, then apply FILE). Nothing was changed."
        )
    # On stderr, like the plan it follows when stdout carries a JSON report.
    click.echo("\nDo you want to perform these actions? Only 'yes' will be accepted.", err=True)
    answer = click.prompt("  Enter a value", default="", show_default=False, err=True)
    if answer.strip() != "yes":
        raise NumbersIacError("apply cancelled. Nothing was changed.")


def _say_waiting(message: str) -> None:
    """Said once when a command waits for the lock (--lock-timeout), on stderr."""
    click.echo(f"{message[:1].upper()}{message[1:]}.", err=True)


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name is not worth failing an apply
        return "unknown"


# --------------------------------------------------------------------------- import


@main.command("import")
@click.argument("provider_name", metavar="PROVIDER")
@click.option("--print", "print_only", is_flag=True, help="Only print the YAML; change nothing.")
@click.option(
    "--pinned",
    is_flag=True,
    help="List every number (numbers: [...]) instead of a quantity per country, type, "
    "location and app.",
)
@config_options
@pass_context
@handle_errors
def import_(ctx: Context, provider_name: str, print_only: bool, pinned: bool) -> None:
    """Declare the numbers PROVIDER already owns: append them to the config, record them.
    By default each group of numbers becomes a quantity; the state records its members."""
    from numbers_iac.importer import import_numbers

    desired = ctx.load()
    with contextlib.ExitStack() as stack:
        if print_only:  # changes nothing: creates no state file, takes no lock
            store = stack.enter_context(_store_to_read(desired))
        else:
            store = stack.enter_context(open_store(desired.state))
            stack.enter_context(store.lock(f"numbers-iac import by {_user()}"))
        providers = stack.enter_context(engine.Providers(desired))
        progress = stack.enter_context(ListingProgress())
        result = import_numbers(
            desired,
            providers,
            store,
            provider_name,
            write=not print_only,
            progress=progress,
            pinned=pinned,
        )
    click.echo(result.yaml_text, nl=False)
    if result.held_by_removed:
        names = ", ".join(result.held_by_removed)
        click.echo(
            f"Not imported: numbers the state already manages under removed declarations "
            f"({names}); add them back, or `numbers-iac state forget NAME` to import them.",
            err=True,
        )
    if result.renamed_aliases:
        shown = "; ".join(f"{n} was {for_terminal(repr(a))}" for n, a in result.renamed_aliases[:5])
        more = (
            f"; and {len(result.renamed_aliases) - 5} more"
            if len(result.renamed_aliases) > 5
            else ""
        )
        click.echo(
            f"Rewrote the alias of {plural(len(result.renamed_aliases), 'number')} on "
            f"{provider_name} to the declaration name (the ownership tag): {shown}{more}.",
            err=True,
        )
    if not result.count:
        unchanged = "" if print_only else f"; {desired.config_path} is unchanged"
        click.echo(
            f"Nothing to import: {provider_name} holds no number the configuration and the "
            f"state do not already have{unchanged}.",
            err=True,
        )
    elif not print_only:
        click.echo(
            f"Imported {plural(result.count, 'number')} into "
            f"{plural(len(result.declarations), 'declaration')} "
            f"in {desired.config_path}.",
            err=True,
        )


# --------------------------------------------------------------------------- state


@main.group()
@config_options
def state() -> None:
    """Inspect the state store."""


#: the state commands call no provider: only the state's own variables must be set
_STATE_ONLY = frozenset({"state"})


def _refusal(the_plan: Plan, desired: Desired, store: StateStore) -> str | None:
    """The first words of what would make apply refuse this plan, --allow-release given
    (an unconfirmed rename, a guard rail, a quarantine not over), or None."""
    try:
        check_guards(
            the_plan, desired, store.load().numbers, allow_release=True, today=now().date()
        )
    except GuardError as exc:
        return str(exc).splitlines()[0]
    return None


@contextlib.contextmanager
def _store_to_read(desired: Desired) -> Iterator[StateStore]:
    """The state for a command that only reads it (plan, drift). With no state file yet, an
    empty one in a temporary directory: reading must not create the project's (a drift job
    in a read-only checkout, a plan before the first apply)."""
    if _no_state_file(desired) is None:
        with open_store(desired.state) as store:
            yield store
        return
    with (
        tempfile.TemporaryDirectory(prefix="numbers-iac-empty-state-") as empty,
        open_store(StateConfig(path=str(Path(empty) / "state.sqlite"))) as store,
    ):
        yield store


def _echo_lines(text: str) -> None:
    """Output that ends with exactly one newline, whichever renderer made it (a pipeline
    reading JSON, a file of Markdown)."""
    click.echo(text, nl=not text.endswith("\n"))


def _no_state_file(desired: Desired) -> str | None:
    """Where the state file would be, when it does not exist yet: reading it must not
    create it (only apply, import and state forget write state)."""
    path = desired.state.path
    if desired.state.backend == "sqlite" and path and not os.path.lexists(path):
        return path
    return None


@state.command("list")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@config_options
@pass_context
@handle_errors
def state_list(ctx: Context, fmt: str) -> None:
    """What the state store holds: managed numbers and pending orders."""
    desired = ctx.load(resolve_env=_STATE_ONLY)
    missing = _no_state_file(desired)
    if missing is not None:
        if fmt == "json":
            click.echo(tables.state_json(Recorded()))
        else:
            click.echo(f"No state file at {missing}: nothing is managed yet (apply creates it).")
        return
    with open_store(desired.state) as store:
        recorded = store.load()
        where = store.where
    if fmt == "json":
        click.echo(tables.state_json(recorded))
    else:
        click.echo(tables.state_text(recorded, desired.state.path or where))


@state.command("forget")
@click.argument("items", nargs=-1, required=True, metavar="NAME|NUMBER...")
@click.option("--lock-timeout", default=0.0, type=float, metavar="SECONDS")
@config_options
@pass_context
@handle_errors
def state_forget(ctx: Context, items: tuple[str, ...], lock_timeout: float) -> None:
    """Stop managing numbers without releasing them: the numbers of removed declaration
    NAME, or single NUMBERs. The next plan lists them as unmanaged (like Terraform's
    `removed { destroy = false }`)."""
    desired = ctx.load(resolve_env=_STATE_ONLY)
    if _no_state_file(desired):  # nothing managed yet: say so without creating the state
        with _store_to_read(desired) as empty:
            engine.forget(desired, empty, items)
    with (
        open_store(desired.state) as store,
        store.lock(f"state forget by {_user()}", lock_timeout, _say_waiting),
    ):
        forgotten = engine.forget(desired, store, items)
    for provider, number, declaration in forgotten:
        click.echo(f"forgot {number} ({provider} / {declaration})")
    click.echo(
        f"{plural(len(forgotten), 'number')} no longer managed; nothing was released. The next plan "
        "lists them as unmanaged."
    )
    names = sorted({declaration for _, _, declaration in forgotten})
    if forgotten:
        click.echo(
            f"Note: where the provider carries the ownership tag (Plivo's alias), it still "
            f"says {', '.join(names)}: a declaration given that name later adopts them again.",
            err=True,
        )


@state.command("journal")
@click.option(
    "--limit",
    default=50,
    show_default=True,
    type=click.IntRange(min=1),
    help="Newest entries to show.",
)
@click.option(
    "--all", "show_all", is_flag=True, help="Also show completed per-number buy attempts."
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@config_options
@pass_context
@handle_errors
def state_journal(ctx: Context, limit: int, show_all: bool, fmt: str) -> None:
    """Every provider call apply made, newest first: intent, outcome, detail.

    An entry is open while its outcome is not known: "(no answer: interrupted)" when the
    apply stopped before the provider answered, "unknown (open)" when the answer was
    ambiguous. The next plan settles open entries from the provider's listing.
    """
    desired = ctx.load(resolve_env=_STATE_ONLY)
    if _no_state_file(desired) is not None:
        entries = []
    else:
        with open_store(desired.state) as store:
            entries = store.journal(limit if show_all else None)
    shown = tables.journal_shown(entries, limit, show_all)
    click.echo(tables.journal_json(shown) if fmt == "json" else tables.journal_text(shown))


@state.command("migrate")
@click.option(
    "--to",
    "target_backend",
    required=True,
    type=click.Choice(["postgres", "sqlite"]),
    help="The backend to copy the state into.",
)
@click.option(
    "--path",
    "target_path",
    metavar="FILE",
    help="sqlite: the new state file (default: .numbers-iac/state.sqlite next to the config).",
)
@click.option(
    "--dsn-env",
    default="NUMBERS_IAC_PG_DSN",
    show_default=True,
    metavar="VAR",
    help="postgres: the environment variable holding the target's connection string (it "
    "holds a password, so it is never taken on the command line).",
)
@click.option(
    "--lock-timeout",
    default=0.0,
    type=float,
    metavar="SECONDS",
    help="Wait this long for a running apply to finish.",
)
@config_options
@pass_context
@handle_errors
def state_migrate(
    ctx: Context,
    target_backend: str,
    target_path: str | None,
    dsn_env: str,
    lock_timeout: float,
) -> None:
    """Copy the configured state into another backend (an empty one), under the apply
    lock, and compare the copy with the original. The original is left as it was: point
    the configuration's `state:` block at the new one afterwards."""
    desired = ctx.load(resolve_env=_STATE_ONLY)
    source = desired.state
    if source.backend == target_backend:
        raise NumbersIacError(
            f"the configured state is already on {target_backend}; --to names the backend "
            "to copy it into"
        )
    missing = _no_state_file(desired)
    if missing is not None:
        raise NumbersIacError(f"no state file at {missing}: nothing to migrate")
    target = _migration_target(desired, target_backend, target_path, dsn_env)
    with (
        open_store(source) as old,
        old.lock(f"state migrate by {_user()}", lock_timeout, _say_waiting),
        open_store(target) as new,
    ):
        counts = engine.copy_state(old, new)
        copied = (
            f"{plural(counts['managed_numbers'], 'managed number')}, "
            f"{plural(counts['pending_orders'], 'pending order')} and "
            f"{plural(counts['journal'], 'journal entry', 'journal entries')}"
        )
        click.echo(f"Copied {copied} from {old.where} to {new.where}; the copy matches.")
    block = (
        f'{{backend: postgres, dsn: "${{{dsn_env}}}"}}'
        if target_backend == "postgres"
        else f"{{backend: sqlite, path: {json.dumps(str(target.path))}}}"
    )
    click.echo(
        f"Now point the configuration at it (state: {block}). The old state is left as it "
        "was: remove it once the configuration uses the new one.",
        err=True,
    )


def _migration_target(
    desired: Desired, backend: str, path: str | None, dsn_env: str
) -> StateConfig:
    if backend == "postgres":
        dsn = os.environ.get(dsn_env)
        if not dsn:
            raise NumbersIacError(
                f"set {dsn_env} to the connection string of the PostgreSQL state to copy "
                "into (or name another variable with --dsn-env)"
            )
        return StateConfig("postgres", None, dsn)
    if path is None:
        path = os.path.join(os.path.dirname(desired.config_path), DEFAULT_STATE_PATH)
    return StateConfig("sqlite", os.path.abspath(path), None)


# --------------------------------------------------------------------------- drift


@main.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
)
@config_options
@pass_context
@handle_errors
def drift(ctx: Context, fmt: str) -> None:
    """Report how the accounts differ from the declarations and from what the last apply
    left: declared numbers missing, apps and labels that differ (key by key), changes made
    outside numbers-iac, unmanaged numbers and their cost. Exit 0 clean, 2 drift, 1 error,
    for a nightly job. Takes no lock and changes nothing."""
    desired = ctx.load()
    with (
        _store_to_read(desired) as store,
        engine.Providers(desired) as providers,
        ListingProgress() as progress,
    ):
        report = engine.check_drift(desired, providers, store, progress=progress, now=now())
        applying = store.locked_by()
    _echo_lines(render_drift(report, fmt))
    if applying:  # what the apply has not finished yet reads as drift
        click.echo(
            f"Note: an apply is running ({applying}): what it has not done yet shows as "
            "drift; run drift again when it ends.",
            err=True,
        )
    if report.drifted:
        sys.exit(EXIT_CHANGES)


# --------------------------------------------------------------------------- inventory


@main.command()
@click.argument("provider_name", metavar="PROVIDER")
@click.option("--country", required=True, metavar="CC", help="ISO 3166 alpha-2 country code.")
@click.option(
    "--type", "number_type", type=click.Choice(["local", "national", "mobile", "tollfree"])
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@config_options
@pass_context
@handle_errors
def inventory(
    ctx: Context, provider_name: str, country: str, number_type: str | None, fmt: str
) -> None:
    """Regions and prefixes for sale, with stock and prices, to help write declarations."""
    desired = ctx.load()
    if provider_name not in desired.providers:
        raise NumbersIacError(
            f"provider {provider_name!r} is not configured (configured: {', '.join(sorted(desired.providers))})"
        )
    country = country.upper()
    if country not in phonenumbers.SUPPORTED_REGIONS:  # else "sells no numbers in ZZ"
        raise NumbersIacError(
            f"--country {for_terminal(country)} is not a country code: give a two-letter "
            "ISO 3166 code, such as FR"
        )
    with engine.Providers(desired) as providers:
        rows = providers[provider_name].inventory(country, number_type)
    if fmt == "json":
        click.echo(tables.inventory_json(rows))
    else:
        click.echo(tables.inventory_text(rows, provider_name, country, number_type))


# --------------------------------------------------------------------------- emulator


@main.command()
@click.argument("provider_type", metavar="PROVIDER")
@click.option(
    "--port",
    default=0,
    type=click.IntRange(0, 65535),
    help="Port on 127.0.0.1 (0: pick a free one).",
)
@click.option(
    "--seed-file", type=click.Path(exists=True, dir_okay=False), help="World seed (JSON or YAML)."
)
@no_color_option
@handle_errors
def emulator(provider_type: str, port: int, seed_file: str | None) -> None:
    """Serve a provider emulator on 127.0.0.1 to rehearse offline without spending money."""
    from numbers_iac.emulators.serve import main_emulator

    main_emulator(provider_type, port, seed_file, click.echo)


# --------------------------------------------------------------------------- schema


@main.command()
@no_color_option
@handle_errors
def schema() -> None:
    """Print the configuration's JSON Schema, for editors:
    `numbers-iac schema > numbers.schema.json`, then
    `# yaml-language-server: $schema=numbers.schema.json` at the top of numbers.yaml."""
    click.echo(json.dumps(load_schema(), indent=2, ensure_ascii=False))
