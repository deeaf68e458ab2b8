"""Plan cost at scale: the real CLI, in a subprocess, against each provider's emulator.

For each provider and each account size the harness seeds a simulated account owning N
numbers, serves the provider's emulator on loopback (the sandbox reads its file instead),
runs `numbers-iac import` once to declare and record them (no latency, no rate limit: this
is setup), then times `numbers-iac plan` as a user runs it, with every emulator request
delayed by `--latency` and the adapter keeping the provider's own page size and rate limit.

Figures per run: wall, CPU (user + system of the CLI process, which excludes network
waits), peak RSS, requests the emulator saw, the floor (the listing's page requests plus
the apps listing), the ideal wall (the CLI's start-up, measured in the same run, plus the
larger of floor x this run's mean request time / concurrency and floor / rate limit; the
mean request time is the injected latency plus the emulator's own time to answer), their
ratios, and a naive per-number refresh (one request per number, timed by the same mean).
With `--apply N` it also times an apply that buys N numbers and one that binds N owned
numbers against its floor (start-up plus every request it made, 4 at once, or the rate
limit), and with `--validate N` a `validate` of N pinned numbers.

Figures only: nothing here asserts a threshold; the last lines say which of issue 23's
targets this run's figures meet.

    python bench/run.py                                  # 1,000 / 10,000 / 100,000, every provider
    python bench/run.py --sizes 1000 --providers plivo --latency 0.02
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from numbers_iac.emulators.faults import Fault
from numbers_iac.emulators.serve import RunningServer, make_app
from numbers_iac.simulation import World

PROVIDERS = ("sandbox", "plivo", "aculab", "voximplant", "callr", "messagemedia")
REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Api:
    """What bounds a listing on one provider's real API."""

    #: numbers per listing page; None: the whole inventory in one answer
    page_size: int | None
    #: requests per second the provider allows (None: none published, latency alone bounds)
    rate: float | None
    #: listing pages in flight at once (token-chained pages: one)
    concurrency: int
    #: requests besides the listing pages: the apps listing
    extra: int
    note: str


APIS = {
    "sandbox": Api(20, None, 1, 0, "local JSON file, 20 a page; no network"),
    "plivo": Api(20, 300 / 5, 4, 1, "20 a page (Plivo's cap), 300 requests / 5 s"),
    "aculab": Api(None, None, 1, 1, "tel_list_numbers answers the whole inventory"),
    "voximplant": Api(100, None, 4, 1, "GetPhoneNumbers, 100 a page (documented default)"),
    "callr": Api(100, None, 4, 1, "did.search, 100 a page (the most CALLR serves)"),
    "messagemedia": Api(100, None, 1, 0, "100 a page, chained by token (one at a time)"),
}


class Timed:
    """WSGI middleware: counts requests and the seconds spent answering them."""

    def __init__(self, app: Any):
        self.app = app
        self.lock = threading.Lock()
        self.count = 0
        self.seconds = 0.0

    def __call__(self, environ: dict, start_response: Any) -> Any:
        started = time.perf_counter()
        try:
            return self.app(environ, start_response)
        finally:
            with self.lock:
                self.count += 1
                self.seconds += time.perf_counter() - started

    def reset(self) -> None:
        with self.lock:
            self.count, self.seconds = 0, 0.0


@dataclass
class Account:
    """One provider account in a directory: its config, its emulator (if any)."""

    kind: str
    cwd: Path
    world: World
    server: RunningServer | None = None
    timed: Timed | None = None
    faults: Any = None

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()


def open_account(kind: str, size: int, cwd: Path, apps: tuple[str, ...] = ("ivr",)) -> Account:
    world = World.from_seed({"apps": list(apps), "owned": size})
    account = Account(kind, cwd, world)
    block = f"  acct:\n    type: {kind}\n"
    if kind == "sandbox":
        world.save(cwd / ".numbers-iac" / "sandbox-acct.json")
        block += f"    apps: [{', '.join(apps)}]\n"
    else:
        options: dict[str, Any] = {}
        if kind == "voximplant":
            from numbers_iac.emulators.voximplant import generate_service_account

            options["service_account"] = generate_service_account()
            (cwd / "vox-key.json").write_text(json.dumps(options["service_account"]))
        account.faults = make_app(kind, world, **options)
        account.timed = Timed(account.faults)
        account.server = RunningServer(account.timed, keep_alive=True)
        settings = account.faults.app.provider_settings(account.server.url)
        if kind == "voximplant":
            settings["credentials"] = "vox-key.json"
        for key, value in settings.items():
            block += f"    {key}: {json.dumps(value)}\n"
        if kind == "messagemedia":
            block += "    auth: hmac\n"
        block += "    timeout: 60\n"
    text = f"version: 1\nproviders:\n{block}numbers: {{}}\n"
    (cwd / "numbers.yaml").write_text(text)
    return account


#: `python -m numbers_iac ARGS`, noting the process's peak RSS when it exits: the kernel's
#: `ru_maxrss` for a child also counts the benchmark's own memory, copied at fork before exec
RUN_CLI = """
import atexit, runpy, sys
PEAK_FILE = sys.argv[1]
def peak():
    with open("/proc/self/status") as status, open(PEAK_FILE, "w") as out:
        out.write(next(l for l in status if l.startswith("VmHWM")).split()[1])
atexit.register(peak)
sys.argv = ["numbers-iac", *sys.argv[2:]]
runpy.run_module("numbers_iac", run_name="__main__", alter_sys=True)
"""


def cli(cwd: Path, *args: str) -> tuple[int, str, float, float, float]:
    """Run the CLI; returns its exit code, output, wall and CPU seconds, peak RSS in MB."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBERS_IAC_")}
    env.update({"NO_COLOR": "1", "PYTHONPATH": str(REPO)})
    peak_file = cwd / ".peak-rss"
    with tempfile.TemporaryFile("w+") as out:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-c", RUN_CLI, str(peak_file), *args],
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read()
    cpu = usage.ru_utime + usage.ru_stime
    peak_kb = int(peak_file.read_text()) if peak_file.exists() else 0
    return process.returncode, output, wall, cpu, peak_kb / 1024


def import_all(account: Account) -> None:
    """Setup: `numbers-iac import acct`, run in this process for an HTTP provider so that
    writing each number's ownership tag (one request per number on Plivo or MessageMedia:
    a long wait at 100,000 that the benchmark does not measure) goes straight into the
    simulated account instead."""
    from numbers_iac import engine
    from numbers_iac.config import load_config
    from numbers_iac.importer import import_numbers
    from numbers_iac.providers.base import no_progress
    from numbers_iac.providers.registry import open_provider
    from numbers_iac.state import open_store

    def tag_directly(items, *args: Any, **kwargs: Any) -> None:
        for number, name, _ in items:
            account.world.update(number.number, alias=name)

    def factory(config: Any) -> Any:
        provider = open_provider(config)
        provider.set_labels = tag_directly  # type: ignore[method-assign]
        return provider

    here = Path.cwd()
    os.chdir(account.cwd)
    try:
        desired = load_config(account.cwd / "numbers.yaml")
        with open_store(desired.state) as store, engine.Providers(desired, factory) as providers:
            import_numbers(
                desired, providers, store, "acct", write=True, progress=lambda _: no_progress
            )
    finally:
        os.chdir(here)


def without_rate_limit(kind: str, cwd: Path, on: bool) -> None:
    """Setup (import) runs without Plivo's client-side limit; the plan keeps it."""
    if kind != "plivo":
        return
    path = cwd / "numbers.yaml"
    line = "    rate_limit: [1000000, 1]\n"
    text = path.read_text()
    text = (
        text.replace("    timeout: 60\n", "    timeout: 60\n" + line, 1)
        if on
        else text.replace(line, "")
    )
    path.write_text(text)


#: the CLI's own start-up (Python, imports, reading a configuration; no request): every
#: command pays it once whatever the account's size, so the ideal and the floor include it
START_UP = {"s": 0.0}


def measure_start_up(runs: int = 5) -> float:
    """The median wall of `numbers-iac validate` on a one-provider configuration."""
    with tempfile.TemporaryDirectory(prefix="bench-start-") as tmp:
        cwd = Path(tmp)
        open_account("sandbox", 0, cwd)
        walls = sorted(cli(cwd, "validate")[2] for _ in range(runs))
    return walls[len(walls) // 2]


def ideal_seconds(requests: int, each: float, concurrency: int, rate: float | None) -> float:
    """The wall of `requests` with nothing but the provider to wait for: each taking what
    this run's emulator took on average (the injected latency plus its own time to answer:
    on a real API both are the provider's), `concurrency` at once, or the rate limit."""
    return max(requests * each / concurrency, requests / rate if rate else 0.0)


def bench_plan(kind: str, size: int, latency: float) -> dict[str, Any]:
    api = APIS[kind]
    with tempfile.TemporaryDirectory(prefix=f"bench-{kind}-") as tmp:
        cwd = Path(tmp)
        account = open_account(kind, size, cwd)
        try:
            without_rate_limit(kind, cwd, True)
            if account.server is None:
                code, output, *_ = cli(cwd, "import", "acct")
                if code != 0:
                    raise SystemExit(f"{kind} {size}: import failed ({code}):\n{output[-2000:]}")
            else:
                import_all(account)
            without_rate_limit(kind, cwd, False)
            if account.faults is not None and latency:
                account.faults.add(Fault(status=None, delay=latency, times=10**12))
            if account.timed is not None:
                account.timed.reset()
            code, output, wall, cpu, rss = cli(cwd, "plan", "-detailed-exitcode")
            if code != 0:
                raise SystemExit(
                    f"{kind} {size}: plan is not converged ({code}):\n{output[-2000:]}"
                )
            requests = account.timed.count if account.timed else None
            mean = account.timed.seconds / max(account.timed.count, 1) if account.timed else 0.0
        finally:
            account.close()
    pages = 1 if api.page_size is None else math.ceil(size / api.page_size)
    floor = pages + api.extra
    ideal = ideal_seconds(floor, mean, api.concurrency, api.rate)
    naive_requests = size + api.extra
    naive_wall = max(naive_requests * mean / 4, naive_requests / api.rate if api.rate else 0.0)
    return {
        "provider": kind,
        "numbers": size,
        "wall_s": wall,
        "cpu_s": cpu,
        "rss_mb": rss,
        "requests": requests,
        "floor": floor if kind != "sandbox" else None,
        "ideal_s": ideal + START_UP["s"] if kind != "sandbox" else None,
        "network_ideal_s": ideal if kind != "sandbox" else None,
        "naive_requests": naive_requests if kind != "sandbox" else None,
        "naive_wall_s": naive_wall if kind != "sandbox" else None,
    }


#: where each provider buys in the apply benchmark (a place with stock for 1,000 and more)
PLACES = {
    "messagemedia": "country: AU\n    type: mobile",
}
DEFAULT_PLACE = "country: GB\n    type: local"


#: provider calls an apply runs at once (the adapters' `purchase_concurrency` and
#: `mutation_concurrency`, within the rate limit where there is one)
APPLY_CONCURRENCY = 4


def bench_apply(kind: str, count: int, latency: float) -> list[dict[str, Any]]:
    """Apply a purchase of `count` numbers bound to an app, then a rebind of them all. Its
    floor: every request the apply made (the listing, the offers, the mutations: the
    `requests` and `per nr` columns show they are the fewest the API's forms allow), at this
    run's mean request time, 4 at once, or the rate limit."""
    api = APIS[kind]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix=f"bench-apply-{kind}-") as tmp:
        cwd = Path(tmp)
        (cwd / ".numbers-iac").mkdir()
        account = open_account(kind, 0, cwd, apps=("ivr", "bot"))
        try:
            header = (cwd / "numbers.yaml").read_text().replace("numbers: {}\n", "")
            if latency and account.faults is not None:
                account.faults.add(Fault(status=None, delay=latency, times=10**12))
            apps = kind != "messagemedia"
            steps = [("buy", "ivr"), ("bind", "bot")] if apps else [("buy", None)]
            for step, app in steps:
                place = PLACES.get(kind, DEFAULT_PLACE)
                app_line = f"    app: {app}\n" if app else ""
                text = f"{header}numbers:\n  bulk:\n    provider: acct\n    quantity: {count}\n    {place}\n{app_line}"
                (cwd / "numbers.yaml").write_text(text)
                if account.timed is not None:
                    account.timed.reset()
                mutations_before = account.faults.mutation_count if account.faults else 0
                code, output, wall, cpu, rss = cli(cwd, "apply", "-auto-approve")
                if code != 0:
                    print(f"{kind} apply {step}: exit {code}: {output[-1500:]}", file=sys.stderr)
                requests = account.timed.count if account.timed else None
                mutations = (
                    account.faults.mutation_count - mutations_before if account.faults else None
                )
                mean = account.timed.seconds / max(requests or 0, 1) if account.timed else 0.0
                floor = ideal_seconds(requests or 0, mean, APPLY_CONCURRENCY, api.rate)
                rows.append(
                    {
                        "provider": kind,
                        "step": f"{step} {count:,}" + ("" if code == 0 else f" (exit {code})"),
                        "wall_s": wall,
                        "cpu_s": cpu,
                        "requests": requests,
                        "mutations": mutations,
                        "per_number": None if mutations is None else mutations / count,
                        "floor_s": floor + START_UP["s"] if floor else None,
                        "network_floor_s": floor or None,
                    }
                )
        finally:
            account.close()
    return rows


def bench_validate(size: int) -> dict[str, Any]:
    """`validate` of a configuration listing `size` numbers one by one (`import --pinned` of
    a sandbox account that owns them)."""
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as tmp:
        cwd = Path(tmp)
        open_account("sandbox", size, cwd)
        code, output, *_ = cli(cwd, "import", "acct", "--pinned")
        if code != 0:
            raise SystemExit(f"validate {size}: import failed ({code}):\n{output[-2000:]}")
        code, output, wall, cpu, rss = cli(cwd, "validate")
        if code != 0:
            raise SystemExit(f"validate {size}: exit {code}:\n{output[-2000:]}")
        config_bytes = (cwd / "numbers.yaml").stat().st_size
    return {"numbers": size, "wall_s": wall, "cpu_s": cpu, "rss_mb": rss, "bytes": config_bytes}


#: issue 23's targets: a converged plan at the largest size, an apply, `validate`
PLAN_CPU_S, PLAN_RSS_MB, PLAN_OVER_FLOOR, PLAN_X_IDEAL = 5.0, 300.0, 2, 1.2
APPLY_X_FLOOR, VALIDATE_S = 1.5, 2.0


def verdict(
    rows: list[dict[str, Any]], applied: list[dict[str, Any]], validated: dict[str, Any] | None
) -> list[str]:
    """Each target against this run's figures: what holds and what does not."""

    def mark(ok: bool) -> str:
        return "yes" if ok else "NO"

    lines = []
    largest = max((r["numbers"] for r in rows), default=0)
    if rows:
        lines.append(
            f"targets at {largest:,} numbers: cpu < {PLAN_CPU_S:g} s, RSS < {PLAN_RSS_MB:g} MB, "
            f"requests <= floor + {PLAN_OVER_FLOOR}, wall <= {PLAN_X_IDEAL:g} x ideal"
        )
    for r in rows:
        if r["numbers"] != largest:
            continue
        cells = [
            f"{r['provider']:<12}",
            f"cpu {r['cpu_s']:5.2f} {mark(r['cpu_s'] < PLAN_CPU_S):<3}",
            f"RSS {r['rss_mb']:4.0f} {mark(r['rss_mb'] < PLAN_RSS_MB):<3}",
        ]
        if r["floor"] is not None:
            over = r["requests"] - r["floor"]
            times = ratio(r["wall_s"], r["ideal_s"])
            cells += [
                f"requests {over:+d} {mark(over <= PLAN_OVER_FLOOR):<3}",
                f"x ideal {times:.2f} {mark(times <= PLAN_X_IDEAL)}",
            ]
        lines.append("  " + "  ".join(cells))
    if applied:
        lines.append(f"apply: wall <= {APPLY_X_FLOOR:g} x floor")
    for r in applied:
        if r["floor_s"]:
            times = ratio(r["wall_s"], r["floor_s"])
            lines.append(
                f"  {r['provider']:<12} {r['step']:<18} x floor {times:.2f} "
                f"{mark(times <= APPLY_X_FLOOR)}"
            )
    if validated is not None:
        lines.append(
            f"validate of {validated['numbers']:,} numbers: {validated['wall_s']:.2f} s "
            f"{mark(validated['wall_s'] < VALIDATE_S)}"
        )
    return lines


def fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    return None if not numerator or not denominator else numerator / denominator


#: a table column: its title, its width (negative: left-aligned), and its cell of a row
Column = tuple[str, int, Callable[[dict[str, Any]], str]]

PLAN_COLUMNS: list[Column] = [
    ("provider", -12, lambda r: r["provider"]),
    ("numbers", 8, lambda r: f"{r['numbers']:,}"),
    ("wall s", 8, lambda r: f"{r['wall_s']:.1f}"),
    ("cpu s", 6, lambda r: f"{r['cpu_s']:.2f}"),
    ("RSS MB", 6, lambda r: f"{r['rss_mb']:.0f}"),
    ("requests", 8, lambda r: fmt(r["requests"], ",d")),
    ("floor", 7, lambda r: fmt(r["floor"], ",d")),
    (
        "-floor",
        6,
        lambda r: fmt(None if r["floor"] is None else r["requests"] - r["floor"], "+d"),
    ),
    ("ideal s", 7, lambda r: fmt(r["ideal_s"], ".1f")),
    ("x ideal", 6, lambda r: fmt(ratio(r["wall_s"], r["ideal_s"]), ".2f")),
    ("naive rq", 8, lambda r: fmt(r["naive_requests"], ",d")),
    ("naive s", 7, lambda r: fmt(r["naive_wall_s"], ".0f")),
    ("x", 6, lambda r: fmt(ratio(r["naive_wall_s"], r["wall_s"]), ".1f")),
]

APPLY_COLUMNS: list[Column] = [
    ("provider", -12, lambda r: r["provider"]),
    ("apply", -18, lambda r: r["step"]),
    ("wall s", 7, lambda r: f"{r['wall_s']:.1f}"),
    ("cpu s", 6, lambda r: f"{r['cpu_s']:.2f}"),
    ("requests", 8, lambda r: fmt(r["requests"], ",d")),
    ("mutations", 9, lambda r: fmt(r["mutations"], ",d")),
    ("per nr", 7, lambda r: fmt(r["per_number"], ".2f")),
    ("floor s", 7, lambda r: fmt(r["floor_s"], ".1f")),
    ("x floor", 7, lambda r: fmt(ratio(r["wall_s"], r["floor_s"]), ".2f")),
]


def line(columns: list[Column], cells: list[str]) -> str:
    """Cells padded to their columns' widths, one space apart."""
    return " ".join(
        f"{cell:<{-width}}" if width < 0 else f"{cell:>{width}}"
        for (_, width, _), cell in zip(columns, cells, strict=True)
    )


def header(columns: list[Column]) -> str:
    return line(columns, [title for title, _, _ in columns])


def table_row(columns: list[Column], r: dict[str, Any]) -> str:
    return line(columns, [cell(r) for _, _, cell in columns])


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}; Python {platform.python_version()}; {platform.system()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--providers", nargs="+", default=list(PROVIDERS), choices=PROVIDERS)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    parser.add_argument(
        "--apply", type=int, default=1000, metavar="N", help="numbers to buy and bind (0: skip)"
    )
    parser.add_argument(
        "--validate",
        type=int,
        default=100000,
        metavar="N",
        help="time `validate` of N pinned numbers (0: skip)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"latency per emulator request: {args.latency * 1000:.0f} ms")
    START_UP["s"] = measure_start_up()
    print(f"CLI start-up (median wall of `validate`, no request): {START_UP['s']:.2f} s")
    print(header(PLAN_COLUMNS), flush=True)
    rows = []
    for kind in args.providers:
        for size in args.sizes:
            result = bench_plan(kind, size, args.latency if kind != "sandbox" else 0.0)
            rows.append(result)
            print(table_row(PLAN_COLUMNS, result), flush=True)
    applied = []
    if args.apply:
        print(f"\napply of {args.apply:,} purchases and {args.apply:,} binds", flush=True)
        print(header(APPLY_COLUMNS), flush=True)
        for kind in args.providers:
            for result in bench_apply(kind, args.apply, args.latency if kind != "sandbox" else 0.0):
                applied.append(result)
                print(table_row(APPLY_COLUMNS, result), flush=True)
    validated = None
    if args.validate:
        validated = bench_validate(args.validate)
    print()
    print("\n".join(verdict(rows, applied, validated)))
    if args.json:
        Path(args.json).write_text(
            json.dumps({"plan": rows, "apply": applied, "validate": validated}, indent=1)
        )


if __name__ == "__main__":
    main()
