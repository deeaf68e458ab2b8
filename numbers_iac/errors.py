"""One exception hierarchy whose messages are written for the person running the tool.

The CLI prints `error: <message>` for any `NumbersIacError` and exits with its `exit_code`;
anything else is a bug and may show a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


class NumbersIacError(Exception):
    """Base of every error meant for the user. `str(error)` is the user-facing text."""

    exit_code = 1


@dataclass(frozen=True)
class Problem:
    """One located problem in a configuration file."""

    file: str
    line: int | None
    column: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        field = f" {self.path}:" if self.path else ""
        return f"{where}:{field} {self.message}"


class ConfigError(NumbersIacError):
    """The configuration is invalid. Carries every problem found, one line each."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ProviderError(NumbersIacError):
    """A provider refused or failed an operation.

    The message names the provider, the operation, the HTTP status when there is one, and the
    provider's own error text, so the user can act on it without a debugger.
    """

    def __init__(
        self,
        provider: str,
        operation: str,
        detail: str,
        status: int | None = None,
    ):
        self.provider = provider
        self.operation = operation
        self.detail = detail
        self.status = status
        http = f" (HTTP {status})" if status is not None else ""
        super().__init__(f"provider {provider}: {operation} failed{http}: {detail}")


class AuthError(ProviderError):
    """Credentials were rejected."""


class NotFoundError(ProviderError):
    """The provider does not know the resource (a number, an app)."""


class RateLimitedError(ProviderError):
    """The provider kept answering 429 after every retry."""


class TransientError(ProviderError):
    """A 5xx, timeout or dropped connection that outlasted the retries.

    `maybe_sent` says whether the request may have reached the provider. It is False only
    when no attempt ever got a connection (refused, unreachable, no free connection), so a
    mutation that fails this way certainly did not happen; True after a read timeout, a
    connection reset after sending, or a 5xx answer.
    """

    def __init__(
        self,
        provider: str,
        operation: str,
        detail: str,
        status: int | None = None,
        *,
        maybe_sent: bool = True,
    ):
        super().__init__(provider, operation, detail, status)
        self.maybe_sent = maybe_sent


class IncompleteListingError(ProviderError):
    """A paged listing ended with fewer items than the provider said it holds (the list
    changed while it was read, or the provider lost pages). Reading it again usually works.
    `expected` is the count the provider reported, when it reported one: another way of
    listing must show at least that many to be believed instead."""

    def __init__(
        self,
        provider: str,
        operation: str,
        detail: str,
        status: int | None = None,
        *,
        expected: int | None = None,
    ):
        super().__init__(provider, operation, detail, status)
        self.expected = expected


class OutOfStockError(ProviderError):
    """The region or type has fewer numbers for sale than the purchase needs."""


class UnknownRegionError(ProviderError):
    """The provider does not sell numbers in the declared region or prefix."""


class NumberUnavailableError(ProviderError):
    """A specific number cannot be bought (taken by someone else, or never for sale)."""


class UnknownAppError(ProviderError):
    """A declaration names an app the provider account does not have."""


class StateError(NumbersIacError):
    """The state store cannot be read or written."""


class LockError(StateError):
    """Another apply holds the state lock."""


class StalePlanError(NumbersIacError):
    """A saved plan no longer matches the configuration or the accounts it was made from."""


class GuardError(NumbersIacError):
    """A safety rule stopped the apply before it changed anything. Needs a human, not a retry."""

    exit_code = 3


class PlanFileError(NumbersIacError):
    """A saved plan file cannot be read."""


class OutcomeUnknownError(ProviderError):
    """A purchase may or may not have happened (timeout, reset, 5xx after sending): the
    attempt stays open in the journal until the provider's listing settles it."""


class OfferExpiredError(ProviderError):
    """A reservation lapsed before it was bought: nothing was bought, reserve again."""


class RehearsalError(ProviderError):
    """A purchase went to the provider's rehearsal service (Aculab's `development: true`):
    nothing was bought or charged, so the attempt closes as not bought."""


class DeclarationOptionError(ProviderError):
    """A declaration's provider option does not suit the account (a regulation address the
    account does not have). `field` names the option, so the problem is located at it."""

    def __init__(self, provider: str, operation: str, detail: str, field: str):
        super().__init__(provider, operation, detail)
        self.field = field
