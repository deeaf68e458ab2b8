"""The command line: parse flags, call the engine, pick a renderer, choose the exit code.

Exit codes follow Terraform: 0 success (no changes with --detailed-exitcode), 1 error,
2 changes present (--detailed-exitcode), and 3 when a safety rule refused an apply (needs a
human, not a retry). User errors print `error: ...` lines on stderr, never a traceback.
"""

from __future__ import annotations

import functools
import getpass
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from numbers_iac import __version__, engine, planfile
from numbers_iac.config import config_path_from, load_config
from numbers_iac.errors import ConfigError, NumbersIacError
from numbers_iac.executor import check_guards
from numbers_iac.model import Desired
from numbers_iac.render import render, tables
from numbers_iac.render.escape import for_terminal
from numbers_iac.render.report import render_report
from numbers_iac.state import open_store

EXIT_CHANGES = 2


# --------------------------------------------------------------------------- plumbing


def use_color(stream: Any = None, no_color: bool = False) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    stream = stream or sys.stdout
    if no_color or os.environ.get("NO_COLOR"):
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


class StderrProgress:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, label: str):
        self.label = label
        self.active = sys.stderr.isatty()
        self._drawn = False

    def __call__(self, done: int, total: int | None) -> None:
        if not self.active:
            return
        if total:
            width = 30
            filled = int(width * min(done, total) / total)
            bar = "#" * filled + "-" * (width - filled)
            text = f"\r{self.label} [{bar}] {done}/{total}"
        else:
            text = f"\r{self.label} {done}"
        sys.stderr.write(text)
        sys.stderr.flush()
        self._drawn = True
        if total and done >= total:
            self.finish()

    def finish(self) -> None:
        if self._drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._drawn = False


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
                click.echo(f"error: {for_terminal(line)}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("error: interrupted", err=True)
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001 - a bug must still end in one readable line
            if os.environ.get("NUMBERS_IAC_DEBUG"):
                raise
            click.echo(
                f"error: internal error (a bug in numbers-iac, please report it): "
                f"{type(exc).__name__}: {for_terminal(str(exc))}. Set NUMBERS_IAC_DEBUG=1 to see "
                "the traceback.",
                err=True,
            )
            sys.exit(1)

    return wrapper


class Context:
    def __init__(self, config: str | None, no_color: bool):
        self.config_option = config
        self.no_color = no_color

    def config_path(self, fallback: str | None = None) -> Path:
        if (
            self.config_option is None
            and fallback is not None
            and not os.environ.get("NUMBERS_IAC_CONFIG")
        ):
            return Path(fallback)
        return config_path_from(self.config_option)

    def load(self, fallback: str | None = None) -> Desired:
        return load_config(self.config_path(fallback))

    def color(self, stream: Any = None) -> bool:
        return use_color(stream, self.no_color)


pass_context = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c",
    "--config",
    metavar="FILE",
    default=None,
    help="Declarations file (default: $NUMBERS_IAC_CONFIG, else ./numbers.yaml).",
)
@click.option("--no-color", is_flag=True, help="Plain output (also when NO_COLOR is set).")
@click.version_option(__version__, prog_name="numbers-iac")
@click.pass_context
def main(ctx: click.Context, config: str | None, no_color: bool) -> None:
    """Phone numbers as code: declare numbers in YAML, plan, apply."""
    ctx.obj = Context(config, no_color)


# --------------------------------------------------------------------------- validate


@main.command()
@pass_context
@handle_errors
def validate(ctx: Context) -> None:
    """Check the declarations file; exit 0 if valid, 1 with one line per problem if not."""
    desired = ctx.load()
    click.echo(
        f"{desired.config_path}: valid ({len(desired.declarations)} declarations, "
        f"{len(desired.providers)} providers)"
    )


# --------------------------------------------------------------------------- plan


@main.command()
@click.option("-out", "--out", "out", metavar="FILE", help="Save the plan for `apply FILE`.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
)
@click.option(
    "-detailed-exitcode",
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
    with open_store(desired.state) as store, engine.Providers(desired) as providers:
        the_plan = engine.make_plan(
            desired,
            providers,
            store,
            targets=targets,
            accept_missing=accept_missing,
            replace_names=replace_names,
            progress=StderrProgress,
        )
    click.echo(render(the_plan, fmt, color=ctx.color(), plan_file=out or "plan.json"))
    if out:
        planfile.save(the_plan, out)
        click.echo(
            f"\nSaved the plan to {out}. To apply exactly this plan: numbers-iac apply {out}",
            err=True,
        )
    if detailed and the_plan.has_drift:
        sys.exit(EXIT_CHANGES)


# --------------------------------------------------------------------------- apply


@main.command()
@click.argument("planfile_path", metavar="[PLANFILE]", required=False)
@click.option(
    "-auto-approve",
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
    holder = f"numbers-iac apply by {_user()}"
    with (
        open_store(desired.state) as store,
        engine.Providers(desired) as providers,
        store.lock(holder, lock_timeout),
    ):
        if saved:
            engine.check_fresh(saved, desired, providers, store)
            the_plan = saved
        else:
            the_plan = engine.make_plan(
                desired,
                providers,
                store,
                targets=targets,
                accept_missing=accept_missing,
                replace_names=replace_names,
                progress=StderrProgress,
            )
        click.echo(render(the_plan, "text", color=ctx.color()))
        if not the_plan.has_changes:
            return
        check_guards(the_plan, desired, store.load().numbers, allow_release)
        if not saved and not auto_approve:
            _confirm()
        progress = StderrProgress("applying")
        report = engine.apply_plan(
            the_plan, desired, providers, store, allow_release=allow_release, progress=progress
        )
        progress.finish()
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
    click.echo("\nDo you want to perform these actions? Only 'yes' will be accepted.")
    answer = click.prompt("  Enter a value", default="", show_default=False)
    if answer.strip() != "yes":
        raise NumbersIacError("apply cancelled. Nothing was changed.")


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name is not worth failing an apply
        return "unknown"


# --------------------------------------------------------------------------- import


@main.command("import")
@click.argument("provider_name", metavar="PROVIDER")
@click.option("--print", "print_only", is_flag=True, help="Only print the YAML; change nothing.")
@pass_context
@handle_errors
def import_(ctx: Context, provider_name: str, print_only: bool) -> None:
    """Declare the numbers PROVIDER already owns: append them to the config, record them."""
    from numbers_iac.importer import import_numbers

    desired = ctx.load()
    with (
        open_store(desired.state) as store,
        engine.Providers(desired) as providers,
        store.lock(f"numbers-iac import by {_user()}"),
    ):
        result = import_numbers(
            desired, providers, store, provider_name, write=not print_only, progress=StderrProgress
        )
    click.echo(result.yaml_text, nl=False)
    if not print_only:
        click.echo(
            f"Imported {result.count} number(s) into {len(result.declarations)} declaration(s) "
            f"in {desired.config_path}.",
            err=True,
        )


# --------------------------------------------------------------------------- state


@main.group()
def state() -> None:
    """Inspect the state store."""


@state.command("list")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@pass_context
@handle_errors
def state_list(ctx: Context, fmt: str) -> None:
    """What the state store holds: managed numbers and pending orders."""
    desired = ctx.load()
    with open_store(desired.state) as store:
        recorded = store.load()
    if fmt == "json":
        click.echo(tables.state_json(recorded))
    else:
        click.echo(
            tables.state_text(recorded, desired.state.path or f"store ({desired.state.backend})")
        )


@state.command("forget")
@click.argument("items", nargs=-1, required=True, metavar="NAME|NUMBER...")
@click.option("--lock-timeout", default=0.0, type=float, metavar="SECONDS")
@pass_context
@handle_errors
def state_forget(ctx: Context, items: tuple[str, ...], lock_timeout: float) -> None:
    """Stop managing numbers without releasing them: the numbers of removed declaration
    NAME, or single NUMBERs. The next plan lists them as unmanaged (like Terraform's
    `removed { destroy = false }`)."""
    desired = ctx.load()
    with open_store(desired.state) as store, store.lock(f"state forget by {_user()}", lock_timeout):
        forgotten = engine.forget(desired, store, items)
    for provider, number, declaration in forgotten:
        click.echo(f"forgot {number} ({provider} / {declaration})")
    click.echo(
        f"{len(forgotten)} number(s) no longer managed; nothing was released. The next plan "
        "lists them as unmanaged."
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
@pass_context
@handle_errors
def state_journal(ctx: Context, limit: int, show_all: bool, fmt: str) -> None:
    """Every provider call apply made, newest first: intent, outcome, detail.

    An entry is open while its outcome is not known: "(no answer: interrupted)" when the
    apply stopped before the provider answered, "unknown (open)" when the answer was
    ambiguous. The next plan settles open entries from the provider's listing.
    """
    desired = ctx.load()
    with open_store(desired.state) as store:
        entries = store.journal(limit if show_all else None)
    shown = tables.journal_shown(entries, limit, show_all)
    click.echo(tables.journal_json(shown) if fmt == "json" else tables.journal_text(shown))


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
    with engine.Providers(desired) as providers:
        rows = providers[provider_name].inventory(country, number_type)
    if fmt == "json":
        click.echo(tables.inventory_json(rows))
    else:
        click.echo(tables.inventory_text(rows, provider_name, country, number_type))


# --------------------------------------------------------------------------- emulator


@main.command()
@click.argument("provider_type", metavar="PROVIDER")
@click.option("--port", default=0, type=int, help="Port on 127.0.0.1 (0: pick a free one).")
@click.option(
    "--seed-file", type=click.Path(exists=True, dir_okay=False), help="World seed (JSON or YAML)."
)
@handle_errors
def emulator(provider_type: str, port: int, seed_file: str | None) -> None:
    """Serve a provider emulator on 127.0.0.1 to rehearse offline without spending money."""
    from numbers_iac.emulators.serve import main_emulator

    main_emulator(provider_type, port, seed_file, click.echo)
