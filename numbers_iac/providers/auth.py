"""Request authentication for `HttpClient`, one `httpx.Auth` per scheme a provider speaks.

Each class signs or decorates every request inside `auth_flow`, so adapters never build an
`Authorization` header by hand, and each exposes `secrets`: the strings the client's redactor
must remove from any message it produces.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Generator

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

Clock = Callable[[], float]

# Voximplant refuses tokens living longer than an hour (error 454); a short life also limits
# what a leaked token is worth.
MAX_JWT_LIFETIME = 600


def basic_auth_header(user: str, password: str) -> str:
    """The value of an `Authorization: Basic ...` header, as httpx would send it."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


class BasicAuth(httpx.BasicAuth):
    """HTTP Basic (`user:password`), with its secrets named for redaction."""

    def __init__(self, user: str, password: str):
        super().__init__(user, password)
        header = basic_auth_header(user, password)
        self.secrets: tuple[str, ...] = (password, header, header.removeprefix("Basic "))


class HeaderAuth(httpx.Auth):
    """A fixed credential in one header, e.g. CALLR's `Authorization: Api-Key <key>`
    (`HeaderAuth(key, scheme="Api-Key")`) or `x-api-key: <key>` (`header="x-api-key"`)."""

    def __init__(self, secret: str, *, scheme: str | None = None, header: str = "Authorization"):
        if not secret:
            raise ValueError("HeaderAuth needs a non-empty secret")
        self.header = header
        self.value = f"{scheme} {secret}" if scheme else secret
        self.secrets: tuple[str, ...] = (secret, self.value)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[self.header] = self.value
        yield request


class JwtAuth(httpx.Auth):
    """A fresh RS256 JWT per request: `Authorization: Bearer <jwt>` (Voximplant service
    accounts).

    Header `kid` = `key_id`; claims `iss` = `issuer` (Voximplant wants the account id as an
    integer, so pass an int), `iat` and `exp`. `iat` is set `clock_skew` seconds in the past
    so a server whose clock runs slightly behind does not reject the token as issued in the
    future; `exp` is `lifetime` seconds after now. Each attempt asks for a token: one minted
    less than a third of its lifetime ago is sent again (an RSA signature per request was a
    second of CPU per 1,000 listing pages), anything older is replaced, so a retry after a
    long back-off never carries an expired or nearly expired one.
    """

    def __init__(
        self,
        private_key: str,
        *,
        key_id: str,
        issuer: str | int,
        lifetime: int = 60,
        clock_skew: int = 5,
        clock: Clock = time.time,
    ):
        if not 0 < lifetime <= MAX_JWT_LIFETIME:
            raise ValueError(
                f"a JWT lifetime must be between 1 and {MAX_JWT_LIFETIME} seconds, not {lifetime}"
            )
        if not 0 <= clock_skew < lifetime:
            raise ValueError("clock_skew must be at least 0 and shorter than the lifetime")
        self._key = _load_rsa_private_key(private_key)
        self.key_id = key_id
        self.issuer = issuer
        self.lifetime = lifetime
        self.clock_skew = clock_skew
        self._clock = clock
        self.secrets: tuple[str, ...] = _pem_secret_forms(private_key)
        self._lock = threading.Lock()
        self._minted: tuple[int, str] | None = None

    def token(self) -> str:
        """The token to send now: the last one while it is young, else a new one."""
        now = int(self._clock())
        with self._lock:
            if self._minted is not None and 0 <= now - self._minted[0] < self.lifetime / 3:
                return self._minted[1]
            token = self._mint(now)
            self._minted = (now, token)
            return token

    def _mint(self, now: int) -> str:
        """One signed token, issued `now`."""
        claims = {"iss": self.issuer, "iat": now - self.clock_skew, "exp": now + self.lifetime}
        # Signed at the JWS layer: `jwt.encode` (PyJWT >= 2.10) refuses a numeric `iss`, and
        # Voximplant documents its account id as an integer claim.
        payload = json.dumps(claims, separators=(",", ":")).encode("utf-8")
        headers = {"kid": self.key_id, "typ": "JWT"}
        return jwt.PyJWS().encode(payload, self._key, algorithm="RS256", headers=headers)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        yield request


class HmacAuth(httpx.Auth):
    """MessageMedia's HMAC request signing, as its API reference documents it.

    For each request: a `Date` header (RFC 7231 IMF-fixdate); for a request with a body, a
    `Content-MD5` header holding the hex MD5 of the body; the signing string is the `Date`
    line, the `Content-MD5` line (if any) and the request line (`POST /v1/x HTTP/1.1`),
    joined by newlines; the signature is base64(HMAC(secret, signing string)), both UTF-8;
    the header is `Authorization: hmac username="<key>", algorithm="hmac-sha256",
    headers="Date Content-MD5 request-line", signature="<signature>"`.

    Two points the documentation leaves open are switches: whether the request line keeps
    the query string (`sign_query`, default True: a request line is the request target as
    sent) and the digest (`digest="sha1"` gives `hmac-sha1`, which MessageMedia's own older
    SDKs and the signature lengths in its examples use). `md5_header` names the body-hash
    header: `Content-MD5` as documented, or `x-Content-MD5`, which those SDKs send;
    `date_header` the date's: `Date` as documented, or `date`, which those SDKs sign (the
    signing string's line is `date: ...` and `headers="date ..."` in the Python, Node,
    Java and PHP SDKs alike), so a server that rebuilds the string in their words agrees.
    """

    requires_request_body = True

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        *,
        sign_query: bool = True,
        digest: str = "sha256",
        clock: Clock = time.time,
        md5_header: str = "Content-MD5",
        date_header: str = "Date",
    ):
        if digest not in ("sha256", "sha1"):
            raise ValueError(f"unsupported HMAC digest {digest!r}: use 'sha256' or 'sha1'")
        self.api_key = api_key
        self._secret = api_secret.encode("utf-8")
        self.sign_query = sign_query
        self.digest = digest
        self.md5_header = md5_header
        self.date_header = date_header
        self._clock = clock
        self.secrets: tuple[str, ...] = (api_secret,)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        date = email.utils.formatdate(self._clock(), usegmt=True)
        request.headers[self.date_header] = date
        lines = [f"{self.date_header}: {date}"]
        names = [self.date_header]
        body = request.content
        if body:
            content_md5 = hashlib.md5(body).hexdigest()
            request.headers[self.md5_header] = content_md5
            lines.append(f"{self.md5_header}: {content_md5}")
            names.append(self.md5_header)
        lines.append(self.request_line(request))
        names.append("request-line")
        mac = hmac.new(self._secret, "\n".join(lines).encode("utf-8"), self.digest)
        signature = base64.b64encode(mac.digest()).decode("ascii")
        request.headers["Authorization"] = (
            f'hmac username="{self.api_key}", algorithm="hmac-{self.digest}", '
            f'headers="{" ".join(names)}", signature="{signature}"'
        )
        yield request

    def request_line(self, request: httpx.Request) -> str:
        target = request.url.raw_path if self.sign_query else request.url.raw_path.split(b"?")[0]
        return f"{request.method} {target.decode('ascii')} HTTP/1.1"


def _load_rsa_private_key(pem: str) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode("utf-8"), password=None)
    except (ValueError, TypeError):
        # The loader's own message could quote the key; this one never does.
        raise ValueError("the private key is not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("RS256 needs an RSA private key")
    return key


def _pem_secret_forms(pem: str) -> tuple[str, ...]:
    """The key as given, as it looks escaped inside a JSON key file, and its base64 body
    (whole and line by line), so no fragment of it survives in an echoed error text."""
    pem = pem.strip()
    body_lines = [
        line.strip() for line in pem.splitlines() if line.strip() and not line.startswith("-----")
    ]
    forms = {pem, pem.replace("\n", "\\n"), "".join(body_lines)}
    forms.update(line for line in body_lines if len(line) >= 16)
    return tuple(forms)
