"""The shared pagers: offset + total (concurrent), page tokens, page numbers."""

from __future__ import annotations

import threading
from collections import Counter

import httpx
import pytest

from numbers_iac.errors import IncompleteListingError, ProviderError, TransientError
from numbers_iac.providers.http import HttpClient
from numbers_iac.providers.paging import numbered_pages, offset_pages, token_pages
from tests.test_http import FakeTime

NUMBERS = [f"+3312345{i:04d}" for i in range(57)]


class OffsetServer:
    """A listing answered Plivo-style: `objects` and `meta.total_count` / `meta.next`."""

    def __init__(self, records, *, cap=None, reported_total=None, barrier=None):
        self.records = list(records)
        self.cap = cap
        self.reported_total = reported_total
        self.barrier = barrier
        self.offsets: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, params):
        offset, limit = params["offset"], params["limit"]
        with self._lock:
            self.offsets.append(offset)
        if self.barrier is not None and offset > 0:
            self.barrier.wait()  # breaks (raises) unless `parties` pages are fetched at once
        limit = min(limit, self.cap or limit)
        page = self.records[offset : offset + limit]
        total = len(self.records) if self.reported_total is None else self.reported_total
        more = offset + limit < len(self.records)
        return {
            "objects": page,
            "meta": {"total_count": total, "limit": limit, "offset": offset, "next": more or None},
        }


def walk_offsets(server, **kwargs):
    kwargs.setdefault("page_size", 20)
    kwargs.setdefault("total", lambda body: body["meta"]["total_count"])
    return offset_pages(
        server,
        items=lambda body: body["objects"],
        provider="acme",
        operation="list owned numbers",
        noun="numbers",
        **kwargs,
    )


# --------------------------------------------------------------------------- offset
def test_offset_pager_fetches_every_page_exactly_once_in_order():
    server = OffsetServer(NUMBERS)
    assert list(walk_offsets(server)) == NUMBERS
    assert sorted(server.offsets) == [0, 20, 40]
    assert Counter(server.offsets).most_common(1)[0][1] == 1


def test_offset_pager_fetches_the_remaining_pages_concurrently():
    records = [f"n{i}" for i in range(40)]  # first page + 3 more pages of 10
    barrier = threading.Barrier(3, timeout=10)
    server = OffsetServer(records, barrier=barrier)
    assert list(walk_offsets(server, page_size=10, workers=3)) == records
    assert sorted(server.offsets) == [0, 10, 20, 30]


def test_offset_pager_learns_a_capped_page_size_from_the_first_page():
    server = OffsetServer(NUMBERS, cap=20)
    assert list(walk_offsets(server, page_size=100)) == NUMBERS
    assert sorted(server.offsets) == [0, 20, 40]


def test_offset_pager_can_be_told_the_page_size():
    server = OffsetServer(NUMBERS, cap=25)
    items = walk_offsets(server, page_size=100, page_size_of=lambda body: body["meta"]["limit"])
    assert list(items) == NUMBERS
    assert sorted(server.offsets) == [0, 25, 50]


def test_offset_pager_detects_an_incomplete_listing():
    server = OffsetServer(NUMBERS, reported_total=60)
    seen = []
    with pytest.raises(IncompleteListingError) as caught:
        for number in walk_offsets(server):
            seen.append(number)
    assert seen == NUMBERS  # everything that arrived was streamed first
    message = str(caught.value)
    assert "list owned numbers" in message
    assert "reported 60 numbers but 57 numbers arrived" in message


def test_offset_pager_follows_next_when_the_total_understated():
    server = OffsetServer(NUMBERS, reported_total=35)
    items = walk_offsets(server, has_more=lambda body: bool(body["meta"]["next"]))
    assert list(items) == NUMBERS
    assert sorted(server.offsets) == [0, 20, 40]


def test_offset_pager_extends_when_a_later_page_reports_a_larger_total():
    totals = iter([30, 57, 57, 57])

    def fetch(params):
        body = OffsetServer(NUMBERS)(params)
        body["meta"]["total_count"] = next(totals)
        fetched.append(params["offset"])
        return body

    fetched: list[int] = []
    assert list(walk_offsets(fetch, workers=1)) == NUMBERS
    assert fetched == [0, 20, 40]


def test_offset_pager_without_a_total_reads_until_a_short_page():
    server = OffsetServer(NUMBERS)
    assert list(walk_offsets(server, total=None)) == NUMBERS
    assert server.offsets == [0, 20, 40]

    exact = OffsetServer(NUMBERS[:40])
    assert list(walk_offsets(exact, total=None)) == NUMBERS[:40]
    assert exact.offsets == [0, 20, 40]  # the empty page at 40 ends it


def test_offset_pager_without_a_total_learns_a_capped_page_size_from_has_more():
    """No total, a page shorter than asked and `has_more`: the provider capped the page;
    reading on from the size asked would skip the numbers between."""
    server = OffsetServer(NUMBERS, cap=10, reported_total=None)

    def no_total(params):
        body = server(params)
        body["meta"]["total_count"] = None
        return body

    items = list(walk_offsets(no_total, total=None, has_more=lambda b: bool(b["meta"]["next"])))
    assert items == NUMBERS


def test_offset_pager_drops_repeats_and_counts_distinct_items():
    shifted = NUMBERS[:20] + NUMBERS[19:]  # one number pushed onto the next page

    def fetch(params):
        return OffsetServer(shifted, reported_total=57)(params)

    items = list(walk_offsets(fetch, key=lambda number: number))
    assert items == NUMBERS


def test_offset_pager_stops_when_a_provider_serves_its_first_page_whatever_the_offset():
    """A provider that does not take our paging keys answers page one to every offset and
    says there is more each time: the walk stops at the first page with nothing new (an
    incomplete listing, which an adapter may read another way), not after 10,000 pages."""
    server = OffsetServer(NUMBERS)
    calls = []

    def first_page_always(params):
        calls.append(params["offset"])
        body = server({"offset": 0, "limit": 20})
        body["meta"]["next"] = True
        return body

    with pytest.raises(IncompleteListingError, match="does not seem to take the paging"):
        list(walk_offsets(first_page_always, key=lambda r: r, has_more=lambda b: True))
    assert len(calls) <= 4  # page one, the two its total calls for, one more followed


def test_offset_pager_reports_progress():
    progress = []
    list(walk_offsets(OffsetServer(NUMBERS), progress=lambda done, total: progress.append(done)))
    assert progress == [20, 40, 57]

    totals = []
    list(walk_offsets(OffsetServer(NUMBERS), progress=lambda d, t: totals.append((d, t))))
    assert totals[-1] == (57, 57)


def test_offset_pager_streams_and_bounds_pages_in_flight():
    records = [f"n{i}" for i in range(1000)]
    server = OffsetServer(records)
    items = walk_offsets(server, page_size=10, workers=2)
    assert next(items) == "n0"
    assert server.offsets == [0]  # nothing beyond the first page until the caller asks
    consumed_pages = 1
    for index, _item in enumerate(items, start=1):
        if index % 10 == 0:
            consumed_pages += 1
            assert len(server.offsets) - consumed_pages <= 2 * 2
    assert consumed_pages == 100


def test_offset_pager_passes_a_failed_page_on():
    def fetch(params):
        if params["offset"] == 20:
            raise TransientError("acme", "list", "HTTP 503")
        return OffsetServer(NUMBERS)(params)

    with pytest.raises(TransientError):
        list(walk_offsets(fetch))


def test_offset_pager_keeps_extra_params():
    seen = []

    def fetch(params):
        seen.append(params)
        return OffsetServer(NUMBERS[:5])(params)

    list(walk_offsets(fetch, params={"order_by": "phone_number"}, offset_param="offset"))
    assert seen == [{"order_by": "phone_number", "offset": 0, "limit": 20}]


def test_offset_pager_through_the_client_and_its_rate_limiter():
    fake = FakeTime(start=0.0)
    requested = []
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        with lock:
            requested.append(offset)
        return httpx.Response(200, json=OffsetServer(NUMBERS)({"offset": offset, "limit": 10}))

    client = HttpClient(
        "acme",
        "https://api.acme.invalid",
        transport=httpx.MockTransport(handler),
        rate_limit=(2, 1.0),
        sleep=fake.sleep,
        clock=fake.clock,
    )
    numbers = list(
        walk_offsets(
            lambda params: client.get_json("/Number/", operation="list", params=params),
            page_size=10,
        )
    )
    assert numbers == NUMBERS
    assert sorted(requested) == [0, 10, 20, 30, 40, 50]
    assert fake.now >= 2.0  # six requests at two per second waited for the window


# --------------------------------------------------------------------------- token
class TokenServer:
    """MessageMedia-style: `data` and `pagination.next_token` (null on the last page)."""

    def __init__(self, records, page_size=20):
        self.pages = [records[i : i + page_size] for i in range(0, len(records), page_size)]
        self.calls: list[dict] = []

    def __call__(self, params):
        self.calls.append(params)
        index = int(params.get("token", "t0")[1:])
        last = index == len(self.pages) - 1
        return {
            "data": self.pages[index],
            "pagination": {"page_size": 20, "next_token": None if last else f"t{index + 1}"},
        }


def walk_tokens(fetch, **kwargs):
    return token_pages(
        fetch,
        items=lambda body: body["data"],
        next_token=lambda body: body["pagination"].get("next_token"),
        provider="mm",
        operation="list assigned numbers",
        **kwargs,
    )


def test_token_pager_reads_each_page_once_and_stops_at_the_last_token():
    server = TokenServer(NUMBERS)
    assert list(walk_tokens(server, params={"page_size": 20})) == NUMBERS
    assert server.calls == [
        {"page_size": 20},
        {"page_size": 20, "token": "t1"},
        {"page_size": 20, "token": "t2"},
    ]


def test_token_pager_refuses_a_repeated_token():
    def fetch(params):
        return {"data": ["x"], "pagination": {"next_token": "same"}}

    with pytest.raises(ProviderError, match="twice"):
        list(walk_tokens(fetch))


def test_token_pager_reports_progress():
    progress = []
    list(walk_tokens(TokenServer(NUMBERS), progress=lambda d, t: progress.append((d, t))))
    assert progress == [(20, None), (40, None), (57, None)]


# --------------------------------------------------------------------------- numbered
class RpcServer:
    """Pages addressed by number, with `total` and `has_more` (CALLR's search envelope)."""

    def __init__(self, records, *, barrier=None):
        self.records = records
        self.barrier = barrier
        self.pages: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, params):
        page, size = params["page"], params["per_page"]
        with self._lock:
            self.pages.append(page)
        if self.barrier is not None and page > 1:
            self.barrier.wait()
        start = (page - 1) * size
        hits = self.records[start : start + size]
        return {"hits": hits, "total": len(self.records), "has_more": start + size < 57}


def walk_numbered(server, **kwargs):
    return numbered_pages(
        server,
        items=lambda body: body["hits"],
        page_size=20,
        size_param="per_page",
        provider="callr",
        operation="search DIDs",
        **kwargs,
    )


def test_numbered_pager_fetches_every_page_once_concurrently():
    server = RpcServer(NUMBERS, barrier=threading.Barrier(2, timeout=10))
    assert list(walk_numbered(server, total=lambda body: body["total"], workers=2)) == NUMBERS
    assert sorted(server.pages) == [1, 2, 3]


def test_numbered_pager_without_a_total_follows_has_more():
    server = RpcServer(NUMBERS)
    assert list(walk_numbered(server, has_more=lambda body: body["has_more"])) == NUMBERS
    assert server.pages == [1, 2, 3]


def test_numbered_pager_detects_an_incomplete_listing():
    def fetch(params):
        body = RpcServer(NUMBERS)(params)
        body["total"] = 70
        return body

    with pytest.raises(IncompleteListingError, match="reported 70 items but 57 items"):
        list(walk_numbered(fetch, total=lambda body: body["total"]))
