"""Plan cost at scale: wall time, CPU time, peak memory and provider requests per plan.

Runs the real engine (listing, planner, pricing) against the sandbox and the Plivo emulator
(in-process over httpx's WSGI transport, with an injected per-request latency) for accounts of
N managed numbers, and prints one row per run with the request floor (one listing request per
page of the provider's page size). Figures only: no thresholds are asserted anywhere.

    python bench/run.py                    # 1,000 and 10,000 numbers, 50 ms latency
    python bench/run.py --sizes 1000 --latency 0.02
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
import tracemalloc
from pathlib import Path

from numbers_iac import engine
from numbers_iac.emulators.faults import Fault
from numbers_iac.emulators.serve import emulated
from numbers_iac.model import Declaration, Desired, ManagedNumber, ProviderConfig, StateConfig
from numbers_iac.providers.sandbox import SandboxProvider
from numbers_iac.simulation import World
from numbers_iac.state.sqlite import SqliteStateStore

PAGE_SIZE = 20


def build(kind: str, size: int, latency: float):
    world = World.from_seed({"apps": ["ivr"], "owned": size})
    for number in world.numbers:
        world.update(number, alias="bulk")  # tagged as apply would have left them
    if kind == "sandbox":
        provider = SandboxProvider(
            ProviderConfig("acct", "sandbox", {"apps": ["ivr"]}), world=world
        )
        return provider, world, None
    env = emulated("plivo", world, name="acct")  # the adapter keeps Plivo's 300 req / 5 s
    if latency:
        env.app.add(Fault(status=None, delay=latency, times=10**9))
    return env.provider, world, env.app


def run(kind: str, size: int, latency: float) -> dict:
    provider, world, faults = build(kind, size, latency)
    declaration = Declaration("bulk", "acct", size, pinned=tuple(sorted(world.numbers)))
    desired = Desired(
        "bench.yaml", "bench", {"acct": provider.config}, {"bulk": declaration}, StateConfig()
    )
    with (
        tempfile.TemporaryDirectory() as tmp,
        SqliteStateStore(Path(tmp) / "state.sqlite") as store,
    ):
        store.save_numbers(
            [ManagedNumber("acct", n.number, "bulk", n.provider_id) for n in world.numbers.values()]
        )
        providers = engine.Providers(desired, lambda config: provider)
        tracemalloc.start()
        wall, cpu = time.perf_counter(), time.process_time()
        plan = engine.make_plan(desired, providers, store)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        providers.close()
    assert not plan.actions, "the benchmark account should already match its declaration"
    requests = len(faults.log) if faults is not None else math.ceil(size / PAGE_SIZE)
    floor = math.ceil(size / PAGE_SIZE) + 1  # listing pages + one apps page
    return {
        "provider": kind,
        "numbers": size,
        "requests": requests,
        "floor": floor,
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_mb": peak / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per emulator request")
    parser.add_argument("--providers", nargs="+", default=["sandbox", "plivo"])
    args = parser.parse_args()
    header = f"{'provider':<9} {'numbers':>8} {'requests':>9} {'floor':>6} {'wall s':>8} {'cpu s':>7} {'peak MB':>8}"
    print(
        f"latency per emulator request: {args.latency * 1000:.0f} ms (tracemalloc on: times include its overhead)"
    )
    print(header)
    for kind in args.providers:
        for size in args.sizes:
            r = run(kind, size, args.latency if kind != "sandbox" else 0)
            print(
                f"{r['provider']:<9} {r['numbers']:>8} {r['requests']:>9} {r['floor']:>6} "
                f"{r['wall_s']:>8.2f} {r['cpu_s']:>7.2f} {r['peak_mb']:>8.1f}"
            )


if __name__ == "__main__":
    main()
