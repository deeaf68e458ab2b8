"""What the journal means: a pure reading of raw journal entries.

The state store only stores entries; this module decides which of them are purchase attempts
whose outcome is unknown (they hold back a shortfall until the listing settles them) and
which numbers an interrupted apply was releasing. Keeping the reading here, with no I/O, lets
the planner's inputs be tested with plain data and lets every backend share one meaning.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from numbers_iac.model import QUANTITY, RESERVE, SPECIFIC, Attempt, JournalEntry, Where

#: the journal operation of one purchase attempt (a number, a blind order, a reservation)
BUY_ATTEMPT = "buy-attempt"
RELEASE = "release"
#: an outcome that keeps an entry open: the provider's answer was ambiguous
UNKNOWN = "unknown"
#: operations whose open entries mean something to the next plan
OPEN_OPERATIONS = (BUY_ATTEMPT, RELEASE)


def is_open(entry: JournalEntry) -> bool:
    return entry.outcome is None or entry.outcome == UNKNOWN


def attempt_payload(
    mode: str,
    count: int,
    numbers: Iterable[str] = (),
    where: Where | None = None,
    handle: str | None = None,
    expires_at: str | None = None,
) -> dict[str, Any]:
    """What the executor journals before a commit, so `open_attempts` can rebuild it."""
    payload: dict[str, Any] = {"mode": mode, "count": count, "numbers": list(numbers)}
    if where is not None:
        payload["where"] = {
            "country": where.country,
            "number_type": where.number_type,
            "region": where.region,
            "prefix": where.prefix,
            "capabilities": list(where.capabilities),
        }
    if handle is not None:
        payload["handle"] = handle
    if expires_at is not None:
        payload["expires_at"] = expires_at
    return payload


def open_attempts(entries: Iterable[JournalEntry]) -> tuple[Attempt, ...]:
    """Purchase attempts whose outcome is unknown, oldest first. Entries journaled before
    the modes existed carry only `numbers`: they were specific-number attempts."""
    attempts = []
    for entry in entries:
        if entry.operation != BUY_ATTEMPT or not is_open(entry):
            continue
        payload = entry.payload
        numbers = tuple(str(n) for n in payload.get("numbers") or ())
        mode = str(payload.get("mode") or SPECIFIC)
        if mode not in (SPECIFIC, QUANTITY, RESERVE):
            mode = SPECIFIC
        count = payload.get("count")
        attempts.append(
            Attempt(
                entry_id=entry.entry_id,
                provider=entry.provider,
                declaration=entry.declaration,
                mode=mode,
                count=int(count) if isinstance(count, int) else len(numbers),
                started_at=entry.started_at,
                numbers=numbers,
                where=_where(payload.get("where")),
                handle=payload.get("handle"),
                expires_at=payload.get("expires_at"),
            )
        )
    return tuple(sorted(attempts, key=lambda a: a.entry_id))


def interrupted_releases(entries: Iterable[JournalEntry]) -> dict[tuple[str, str], int]:
    """(provider, number) -> the open release entry: numbers an apply was releasing when it
    died or lost the answer."""
    return {
        (entry.provider, str(number)): entry.entry_id
        for entry in entries
        if entry.operation == RELEASE and is_open(entry)
        for number in entry.payload.get("numbers") or ()
    }


def age_seconds(started_at: str, now: datetime) -> int:
    """How old an entry is; an unreadable time counts as brand new (holds back longest)."""
    try:
        started = datetime.fromisoformat(started_at)
    except ValueError:
        return 0
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    return max(int((now - started).total_seconds()), 0)


def has_lapsed(attempt: Attempt, now: datetime, settle_seconds: float) -> bool:
    """Whether an attempt still absent from the listing now counts as not bought: older
    than the provider's settle time, and past its reservation's expiry if it had one."""
    if age_seconds(attempt.started_at, now) < settle_seconds:
        return False
    if attempt.expires_at:
        return age_seconds(attempt.expires_at, now) > 0
    return True


def _where(raw: Any) -> Where | None:
    if not isinstance(raw, Mapping) or not raw.get("country") or not raw.get("number_type"):
        return None
    return Where(
        str(raw["country"]),
        str(raw["number_type"]),
        raw.get("region"),
        raw.get("prefix"),
        tuple(raw.get("capabilities") or ()),
    )


def as_instant(moment: str) -> str:
    """A date or an ISO time as a sortable UTC instant; a bare date counts as its last
    second (the number is at least that new), so "newest first" never picks an older one."""
    if len(moment) == 10:
        return f"{moment}T23:59:59+00:00"
    try:
        return datetime.fromisoformat(moment).astimezone(UTC).isoformat(timespec="seconds")
    except (TypeError, ValueError):
        return moment
