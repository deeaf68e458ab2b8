"""Walking paged listings, so no adapter writes its own paging loop.

Three shapes cover the providers: offset + total (`offset_pages`: Plivo, Voximplant, CALLR's
`did.search`), a token to the next page (`token_pages`: MessageMedia) and page numbers
(`numbered_pages`, RPC style). Each takes `fetch(params) -> body`, usually a closure over
`HttpClient.request_json` that also turns the params into the provider's wire form, and small
extractors that read the items, the total and the next token from a body.

Items stream out page by page; nothing holds the whole listing. When the provider reported
a total, the walk ends by checking that many items arrived and raises
`IncompleteListingError` if not, so a caller must consume the whole iterator before trusting
what it collected.

`map_concurrently` covers the other shape: one read per item where the API has no bulk form
(Aculab's inbound service per number).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from numbers_iac.errors import IncompleteListingError, ProviderError

Fetch = Callable[[dict[str, Any]], Any]
Items = Callable[[Any], "Sequence[Any] | None"]
Count = Callable[[Any], "int | None"]
Progress = Callable[[int, "int | None"], None]
ParamsFor = Callable[[int, int], dict[str, Any]]
Item = TypeVar("Item")
Result = TypeVar("Result")

# A provider that keeps saying "there is more" past this many extra pages is looping.
FOLLOW_LIMIT = 10_000


def no_progress(done: int, total: int | None) -> None:
    """The default progress sink: report nothing."""


def map_concurrently(
    read: Callable[[Item], Result], items: Sequence[Item], *, workers: int = 4
) -> list[Result]:
    """`[read(item) for item in items]`, with at most `workers` reads in flight.

    For APIs without a bulk read, so that N reads cost about N / workers round trips
    instead of N. Results come back in the order of `items`, and a failure is raised as the
    one-by-one loop would raise it: the exception of the first item (in `items` order)
    whose read failed, unchanged. Reads are started in order and at most `2 * workers` are
    pending at once, so a failure (or Ctrl-C) starts no more, few reads run past it, and
    those in flight end before this returns. `read` must be safe to call from several
    threads (an `HttpClient` is)."""
    if workers <= 1 or len(items) <= 1:
        return [read(item) for item in items]
    results: list[Result] = []
    pending: deque[Future[Result]] = deque()
    started = 0
    pool = ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="reads")
    try:
        while len(results) < len(items):
            # A queue of twice the workers keeps every thread busy without racing far ahead.
            while started < len(items) and len(pending) < 2 * workers:
                pending.append(pool.submit(read, items[started]))
                started += 1
            results.append(pending.popleft().result())
        return results
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def offset_pages(
    fetch: Fetch,
    *,
    items: Items,
    total: Count | None,
    page_size: int,
    provider: str,
    operation: str,
    params: Mapping[str, Any] | None = None,
    offset_param: str = "offset",
    limit_param: str = "limit",
    page_size_of: Count | None = None,
    has_more: Callable[[Any], bool] | None = None,
    key: Callable[[Any], Hashable] | None = None,
    workers: int = 4,
    progress: Progress = no_progress,
    noun: str = "items",
) -> Iterator[Any]:
    """Every item of an offset-paged listing.

    The first page tells the total and the real page size (`page_size_of(body)`, or the
    first page's length when the provider returned fewer than asked and there are more);
    the remaining offsets are then fetched concurrently by at most `workers` threads (the
    client's rate limiter keeps the pace legal) and yielded in order. A later page reporting
    a larger total extends the walk; `has_more(body)` on the last page makes it follow
    further offsets one by one, for providers whose total understates. Without a total,
    pages are read one after another until a short page (or `has_more` says stop).

    `key(item)` drops items seen before (an offset listing that shifts while it is read
    repeats items) and makes the completeness check count distinct items.
    """
    base = dict(params or {})

    def params_for(index: int, size: int) -> dict[str, Any]:
        return {**base, offset_param: index * size, limit_param: size}

    walk = _Walk(fetch, items, total, has_more, key, progress, provider, operation, noun)
    yield from walk.run(params_for, page_size, page_size_of, workers)


def numbered_pages(
    fetch: Fetch,
    *,
    items: Items,
    page_size: int,
    provider: str,
    operation: str,
    total: Count | None = None,
    params: Mapping[str, Any] | None = None,
    page_param: str = "page",
    size_param: str = "page_size",
    first_page: int = 1,
    has_more: Callable[[Any], bool] | None = None,
    key: Callable[[Any], Hashable] | None = None,
    workers: int = 4,
    progress: Progress = no_progress,
    noun: str = "items",
) -> Iterator[Any]:
    """Every item of a listing addressed by page number (`first_page`, `first_page + 1`,
    ...). Same walk as `offset_pages`: concurrent once a total is known, otherwise one page
    after another until a short page or `has_more(body)` is false."""
    base = dict(params or {})

    def params_for(index: int, size: int) -> dict[str, Any]:
        return {**base, page_param: first_page + index, size_param: page_size}

    walk = _Walk(fetch, items, total, has_more, key, progress, provider, operation, noun)
    yield from walk.run(params_for, page_size, None, workers)


def token_pages(
    fetch: Fetch,
    *,
    items: Items,
    next_token: Callable[[Any], Any],
    provider: str,
    operation: str,
    params: Mapping[str, Any] | None = None,
    token_param: str = "token",
    total: Count | None = None,
    key: Callable[[Any], Hashable] | None = None,
    progress: Progress = no_progress,
    noun: str = "items",
) -> Iterator[Any]:
    """Every item of a listing where each page names the next (`next_token(body)`; absent,
    null or empty on the last page). Pages are necessarily read one after another; a token
    seen twice is an error rather than an endless walk."""
    base = dict(params or {})
    walk = _Walk(fetch, items, total, None, key, progress, provider, operation, noun)
    token: Any = None
    used: set[Any] = set()
    while True:
        body = fetch(dict(base) if token is None else {**base, token_param: token})
        yield from walk.record(body)
        token = next_token(body)
        if token is None or token == "":
            break
        if token in used:
            raise ProviderError(
                provider, operation, f"the provider sent page token {token!r} twice"
            )
        used.add(token)
    walk.check()


class _Walk:
    """The state of one listing: what arrived, what the provider promised, where we are."""

    def __init__(
        self,
        fetch: Fetch,
        items: Items,
        total: Count | None,
        has_more: Callable[[Any], bool] | None,
        key: Callable[[Any], Hashable] | None,
        progress: Progress,
        provider: str,
        operation: str,
        noun: str,
    ):
        self.fetch = fetch
        self.items = items
        self.total = total
        self.has_more = has_more
        self.key = key
        self.progress = progress
        self.provider = provider
        self.operation = operation
        self.noun = noun
        self.done = 0
        self.expected: int | None = None
        self.seen: set[Hashable] = set()
        self.last_body: Any = None
        self.last_length = 0

    def run(
        self, params_for: ParamsFor, page_size: int, page_size_of: Count | None, workers: int
    ) -> Iterator[Any]:
        first = self.fetch(params_for(0, page_size))
        yield from self.record(first)
        size = self.learned_size(first, page_size, page_size_of)
        index = 1
        if self.expected is not None:
            index = yield from self.planned(params_for, size, max(workers, 1))
        yield from self.follow(params_for, size, index)
        self.check()

    def record(self, body: Any) -> list[Any]:
        """Count one page in; return its items not seen before."""
        page = list(self.items(body) or ())
        self.last_body, self.last_length = body, len(page)
        reported = self.total(body) if self.total is not None else None
        if isinstance(reported, int) and not isinstance(reported, bool):
            self.expected = max(self.expected or 0, reported)
        if self.key is not None:
            fresh = []
            for item in page:
                item_key = self.key(item)
                if item_key not in self.seen:
                    self.seen.add(item_key)
                    fresh.append(item)
            page = fresh
        self.done += len(page)
        self.progress(self.done, self.expected)
        return page

    def learned_size(self, first: Any, asked: int, page_size_of: Count | None) -> int:
        told = page_size_of(first) if page_size_of is not None else None
        if isinstance(told, int) and told > 0:
            return told
        got = self.last_length
        more = self.expected is not None and self.expected > got
        if self.expected is None and self.has_more is not None:
            more = bool(self.has_more(first))  # no total: the provider says whether
        if 0 < got < asked and more:
            return got  # the provider capped the page size
        return max(asked, 1)

    def planned(self, params_for: ParamsFor, size: int, workers: int) -> Iterator[Any]:
        """Fetch the pages the total calls for, `workers` at a time, yielding in order;
        return the next page index."""
        index = 1
        pending: deque[Future[Any]] = deque()
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pager")
        try:
            while True:
                needed = math.ceil((self.expected or 0) / size)
                # Twice the workers in flight keeps every thread busy while the caller
                # handles a page, and bounds the pages held in memory.
                while index < needed and len(pending) < 2 * workers:
                    pending.append(pool.submit(self.fetch, params_for(index, size)))
                    index += 1
                if not pending:
                    return index
                yield from self.record(pending.popleft().result())
                if self.last_length == 0 and self.done < (self.expected or 0):
                    # An empty page before the promised total: the total was wrong (or the
                    # list shrank); walking every page it promised could take days.
                    self.check()
                    return index
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def follow(self, params_for: ParamsFor, size: int, index: int) -> Iterator[Any]:
        """Read further pages one by one while the last one says there is more; a page made
        only of items already listed ends it (a provider that does not take our offset
        serves its first page again and again, and says each time there is more)."""
        for _ in range(FOLLOW_LIMIT):
            if not self.more(size):
                return
            fresh = self.record(self.fetch(params_for(index, size)))
            yield from fresh
            index += 1
            if self.key is not None and self.last_length > 0 and not fresh:
                raise IncompleteListingError(
                    self.provider,
                    self.operation,
                    f"the provider answered a page of {self.noun} already listed and said "
                    f"there were more ({self.done} distinct so far): it does not seem to "
                    "take the paging parameters",
                    expected=self.expected,
                )
        raise ProviderError(
            self.provider,
            self.operation,
            f"the listing did not end after {FOLLOW_LIMIT} more pages; the provider may be "
            "repeating pages",
        )

    def more(self, size: int) -> bool:
        if self.last_length == 0:
            return False
        if self.has_more is not None:
            return bool(self.has_more(self.last_body))
        return self.expected is None and self.last_length >= size

    def check(self) -> None:
        if self.expected is not None and self.done < self.expected:
            distinct = "distinct " if self.key is not None else ""
            raise IncompleteListingError(
                self.provider,
                self.operation,
                f"the listing is incomplete: the provider reported {self.expected} "
                f"{self.noun} but {self.done} {distinct}{self.noun} arrived; they may have "
                "changed while they were read, run the command again",
                expected=self.expected,
            )
