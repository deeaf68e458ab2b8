"""Regression (second review): the shared offset pager walks as many pages as the first `total_count` claims,
even when they come back empty.

paging._Walk.planned submits `ceil(expected / size)` page fetches and only afterwards
(check()) compares what arrived with the total. An empty page before the promised total
already proves the listing cannot be completed, but the walk goes on. A provider answering
a wrong total (Plivo `meta.total_count` off by orders of magnitude; the Plivo emulator even
has `total_count_skew` for this) turns `plan` into millions of requests at the rate limit:
with Plivo's 300 req / 5 s, a total of 10,000,000 is ~2 days of requests before the error.
FOLLOW_LIMIT bounds only `follow`, not `planned`.
"""

from __future__ import annotations

import pytest

from numbers_iac.errors import ProviderError
from numbers_iac.providers.paging import offset_pages

REAL = [{"number": f"3332200{i:04d}"} for i in range(40)]


class TooMany(Exception):
    pass


def test_a_lying_total_is_noticed_before_walking_every_promised_page():
    calls = []

    def fetch(params):
        calls.append(params["offset"])
        if len(calls) > 1_000:
            raise TooMany(f"{len(calls)} requests and still walking")
        offset, limit = params["offset"], params["limit"]
        return {
            "objects": REAL[offset : offset + limit],
            "meta": {"total_count": 10_000_000, "limit": limit},
        }

    with pytest.raises(ProviderError):
        list(
            offset_pages(
                fetch,
                items=lambda b: b["objects"],
                total=lambda b: b["meta"]["total_count"],
                page_size=20,
                page_size_of=lambda b: b["meta"]["limit"],
                key=lambda r: r["number"],
                provider="plivo",
                operation="list owned numbers",
                workers=4,
            )
        )
    assert len(calls) < 100, f"{len(calls)} page requests for a 40-item listing"
