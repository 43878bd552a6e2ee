"""Webhook: one JSON POST per item to any URL — Slack, Discord, Mattermost, Matrix hooks, or yours.

The body is a JSON template (``body``): a mapping or list whose string values
may hold ``{text}`` ``{title}`` ``{link}`` ``{summary}`` ``{language}``
``{feed}`` ``{account}`` ``{image_url}`` ``{image_alt}`` ``{key}``, filled in
and then serialized, so every value is correctly escaped JSON. Slack and
Mattermost take ``{text: "{text}"}``, Discord ``{content: "{text}"}``. Without
``body`` the whole post is sent: ``text``, ``title``, ``link``, ``summary``,
``language``, ``feed``, ``account`` and ``image`` (``{url, alt}`` or null).

Every request carries ``Idempotency-Key`` (the delivery's key, the same on
every retry) and, with ``secret``, ``X-Autoposter-Signature: sha256=<hex>``,
the HMAC-SHA256 of the exact body bytes. Redirects are not followed.

A hook URL usually embeds its own secret (Slack, Discord): it appears in no
error message and no log line, which name the account instead. ``find``
cannot tell (None).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import string
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from autoposter import logs
from autoposter.errors import AuthError, RejectedError, UnavailableError
from autoposter.publishers import _http, _media
from autoposter.publishers._base import PublisherBase, Writer, extended
from autoposter.types import AccountInfo, Post, PostSpec, Receipt, Removal, SentPost

if TYPE_CHECKING:
    import httpx

FIELDS = (
    "text",
    "title",
    "link",
    "summary",
    "language",
    "feed",
    "account",
    "image_url",
    "image_alt",
    "key",
)
SIGNATURE_HEADER = "X-Autoposter-Signature"


def _check_body(value: Any, path: str = "body") -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{path}: keys must be strings")
            _check_body(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_body(item, f"{path}[{index}]")
    elif isinstance(value, str):
        try:
            parts = list(string.Formatter().parse(value))
        except ValueError as e:
            raise ValueError(f"{path}: braces do not match ({e}); write {{{{ for a brace") from None
        for _text, name, spec, conversion in parts:
            if name is not None and (name not in FIELDS or spec or conversion):
                allowed = ", ".join(f"{{{f}}}" for f in FIELDS)
                raise ValueError(f"{path}: unknown field {{{name}}}; allowed fields: {allowed}")
    elif value is not None and not isinstance(value, bool | int | float):
        raise ValueError(f"{path}: expected JSON values only")


def _fill(value: Any, fields: Mapping[str, str]) -> Any:
    if isinstance(value, Mapping):
        return {key: _fill(item, fields) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, fields) for item in value]
    if isinstance(value, str):
        return value.format_map(fields)
    return value


def signature(secret: str, body: bytes) -> str:
    """The value of the signature header for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _limit(value: object) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 50):
        raise ValueError("limit: expected a number of characters, at least 50")
    return value


class WebhookWriter(Writer):
    """Posts of any length, or at most ``limit`` characters; the feed's name goes along."""

    kind: ClassVar[str] = "webhook"

    def __init__(
        self,
        *,
        name: str,
        limit: int | None = None,
        language: str | None = None,
        template: str | None = None,
        utm: bool = False,
    ) -> None:
        super().__init__(name=name, language=language, template=template, utm=utm)
        self.limit = _limit(limit)

    def finish(self, post: Post, spec: PostSpec) -> Post:
        return extended(post, feed=spec.feed)


class WebhookPublisher(PublisherBase):
    """Any HTTP endpoint that takes a JSON POST."""

    kind: ClassVar[str] = "webhook"
    writer_type: ClassVar[type[Writer]] = WebhookWriter
    # No way to ask whether a post exists: the delivery engine never retries blindly.
    can_find: ClassVar[bool] = False

    def __init__(
        self,
        *,
        name: str,
        url: str,
        secret: str | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        limit: int | None = None,
        timeout: str = _media.DEFAULT_TIMEOUT,
        language: str | None = None,
        template: str | None = None,
        utm: bool = False,
    ) -> None:
        import httpx

        self.writer = WebhookWriter(
            name=name, limit=limit, language=language, template=template, utm=utm
        )
        self.name = name
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise ValueError("url: expected the hook's http(s) URL")  # never echo it
        if not urlsplit(url).hostname:
            raise ValueError("url: the URL has no host")
        self._url = url
        self.host = urlsplit(url).hostname or ""
        # What of the URL may be a secret: all of it, its path, and any long part of it.
        parts = urlsplit(url)
        pieces = [url, parts.path + ("?" + parts.query if parts.query else ""), parts.path]
        pieces += re.split(r"[/?&=]", parts.path + "?" + parts.query)
        self._hidden = sorted({p for p in pieces if len(p) >= 8}, key=len, reverse=True)
        self._secret = None if secret is None else _media.secret(secret, "secret")
        if self._secret is not None:
            self._hidden = sorted({*self._hidden, self._secret}, key=len, reverse=True)
        self.body = _media.plain(body)
        if self.body is not None:
            if not isinstance(self.body, dict | list):
                raise ValueError("body: expected a mapping (or a list) of JSON values")
            _check_body(self.body)
        self.headers = {str(k): str(v) for k, v in _media.plain(headers or {}).items()}
        for key, value in self.headers.items():
            if any(c in key + value for c in "\r\n") or not key.strip():
                raise ValueError(f"headers.{key}: names and values must be on one line")
        hidden = {*self._hidden, *(v for v in self.headers.values() if len(v) >= 8)}
        self._hidden = sorted(hidden, key=len, reverse=True)
        self.limit = _limit(limit)
        self.timeout = _media.seconds(timeout)
        self._http = httpx.Client(timeout=self.timeout, follow_redirects=False)
        self._lock = threading.Lock()

    def payload(self, post: Post, *, key: str) -> bytes:
        """The exact bytes POSTed for ``post``."""
        image = post.image
        if self.body is None:
            data: Any = {
                "text": post.text,
                "title": post.title,
                "link": post.link,
                "summary": post.summary,
                "language": post.language,
                "feed": post.extra.get("feed", ""),
                "account": post.account,
                "image": None if image is None else {"url": image.url, "alt": image.alt},
            }
        else:
            data = _fill(
                self.body,
                {
                    "text": post.text,
                    "title": post.title,
                    "link": post.link,
                    "summary": post.summary,
                    "language": post.language,
                    "feed": post.extra.get("feed", ""),
                    "account": post.account,
                    "image_url": image.url if image else "",
                    "image_alt": (image.alt or "") if image else "",
                    "key": key,
                },
            )
        return json.dumps(data, ensure_ascii=False).encode("utf-8")

    # -- publish -----------------------------------------------------------------------

    def publish(self, post: Post, *, key: str) -> Receipt:
        return self._receipt(self._post(self.payload(post, key=key), key), key)

    def _post(self, content: bytes, key: str) -> httpx.Response:
        """POST ``content``, signed, with ``key`` as its ``Idempotency-Key``."""
        headers = {
            "User-Agent": _media.USER_AGENT,
            **self.headers,
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": key,
        }
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = signature(self._secret, content)
        import httpx

        failure: UnavailableError | None = None
        with self._lock:
            try:
                response = self._http.post(self._url, content=content, headers=headers)
            except httpx.HTTPError as e:
                failure = _http.transport_error(self.name, e, what=f"webhook on {self.host}")
        if failure is not None:
            # Raised outside the except block: httpx's exception names the URL.
            raise failure
        return response

    def _receipt(self, response: httpx.Response, key: str) -> Receipt:
        status = response.status_code
        said = f"webhook on {self.host} answered {status}"
        detail = logs.redact(response.text[:300].strip(), self._hidden)
        if detail:
            said += f": {detail}"
        if 200 <= status < 300:
            try:
                data = response.json()
            except ValueError:
                data = None
            remote = data.get("id") if isinstance(data, Mapping) else None
            url = data.get("url") if isinstance(data, Mapping) else None
            return Receipt(
                remote_id=str(remote) if isinstance(remote, str | int) and remote != "" else key,
                url=url
                if isinstance(url, str) and url.startswith(("http://", "https://"))
                else None,
            )
        if status in (401, 403):
            raise AuthError(self.name, f"{said}; check the hook's secret or token")
        if status in (404, 410):
            raise AuthError(self.name, f"{said}; the hook no longer exists, create a new one")
        if 300 <= status < 400:
            raise RejectedError(
                self.name, f"{said}; redirects are not followed, give the final URL"
            )
        raise _http.status_error(self.name, status, said, retry_after=_retry_after(response))

    def find(self, post: Post, *, key: str) -> Receipt | None:
        return None  # a hook keeps nothing we could read back

    def check(self) -> AccountInfo:
        # Nothing to ask a hook without posting to it.
        return AccountInfo(
            name=self.name,
            details={
                "host": self.host,
                "signed": "yes (X-Autoposter-Signature)" if self._secret else "no",
                "body": "template" if self.body is not None else "default",
                "limit": f"{self.limit} characters" if self.limit else "none",
            },
        )

    def close(self) -> None:
        self._http.close()

    # -- taking back -------------------------------------------------------------------

    can_delete: ClassVar[bool] = True

    def delete(self, sent: SentPost) -> Removal:
        """A signed ``retracted`` event naming the post (its key, id, link). A hook keeps
        what it was sent, so the same event may come twice after a crash: its
        ``Idempotency-Key`` (the delivery's key + ``:retracted``) lets it tell."""
        event = {
            "event": "retracted",
            "key": sent.key,
            "id": sent.remote_id,
            "url": sent.url,
            "link": sent.link,
            "title": sent.title,
            "account": sent.account,
            "reason": sent.reason,
        }
        content = json.dumps(event, ensure_ascii=False).encode("utf-8")
        self._receipt(self._post(content, f"{sent.key}:retracted"), sent.key)
        return Removal.DELETED


def _retry_after(response: httpx.Response) -> float | None:
    wait = _http.retry_after(response.headers)
    if wait is not None:
        return wait
    wait = _http.json_object(response).get("retry_after")  # Discord says it in the body
    return float(wait) if isinstance(wait, int | float) else None
