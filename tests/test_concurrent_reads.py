"""Reads run side by side: `paging.map_concurrently` (one read per item, several in flight,
answered as a loop would), and a plan's read of an account (apps while numbers list)."""

from __future__ import annotations

import threading

import pytest

from numbers_iac.errors import NotFoundError, ProviderError
from numbers_iac.model import ProviderConfig
from numbers_iac.providers.base import Provider, no_progress
from numbers_iac.providers.paging import map_concurrently
from numbers_iac.providers.sandbox import SandboxProvider
from numbers_iac.simulation import World


def test_results_keep_the_order_of_the_items_with_workers_reads_in_flight():
    workers = 4
    everyone_in = threading.Barrier(workers, timeout=5)
    lock = threading.Lock()
    running = peak = 0

    def read(item: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        if item < workers:
            everyone_in.wait()  # passes only if the first `workers` reads run together
        with lock:
            running -= 1
        return item * item

    items = list(range(50))
    assert map_concurrently(read, items, workers=workers) == [i * i for i in items]
    assert peak == workers


def test_the_first_item_that_failed_is_raised_not_the_first_failure_in_time():
    later_failed = threading.Event()
    started: list[int] = []

    def read(item: int) -> int:
        started.append(item)
        if item == 5:
            later_failed.set()
            raise ProviderError("lab", "read 5", "the later one")
        if item == 2:
            later_failed.wait(5)
            raise NotFoundError("lab", "read 2", "the first one")
        return item

    with pytest.raises(NotFoundError, match="the first one"):
        map_concurrently(read, list(range(1000)), workers=4)
    assert len(started) <= 2 + 2 * 4 + 4  # nothing much starts once a read has failed


def test_one_worker_or_one_item_reads_in_the_calling_thread():
    threads: set[str] = set()

    def read(item: str) -> str:
        threads.add(threading.current_thread().name)
        return item.upper()

    assert map_concurrently(read, ["a", "b"], workers=1) == ["A", "B"]
    assert map_concurrently(read, ["c"], workers=8) == ["C"]
    assert map_concurrently(read, [], workers=8) == []
    assert threads == {threading.current_thread().name}


class Overlapping(SandboxProvider):
    """Its apps and its numbers each wait for the other read to have started: the two pass
    only if the core runs them at the same time."""

    def __init__(self, fail_listing: bool = False):
        super().__init__(ProviderConfig("lab", "sandbox", {}), world=World())
        self.fail_listing = fail_listing
        self.apps_started = threading.Event()
        self.numbers_started = threading.Event()

    def list_apps(self):
        self.apps_started.set()
        assert self.numbers_started.wait(5), "the apps waited for the listing to end"
        return super().list_apps()

    def list_numbers(self, progress=no_progress):
        self.numbers_started.set()
        assert self.apps_started.wait(5), "the listing waited for the apps"
        if self.fail_listing:
            raise NotFoundError("lab", "list owned numbers", "gone")
        return super().list_numbers(progress)

    # the core's account read, not the sandbox's one-after-the-other one
    account = Provider.account


def test_an_account_read_lists_the_apps_while_the_numbers_are_listed():
    assert Overlapping().account().numbers == ()


def test_a_failed_listing_is_the_error_an_account_read_raises():
    with pytest.raises(NotFoundError, match="list owned numbers"):
        Overlapping(fail_listing=True).account()
