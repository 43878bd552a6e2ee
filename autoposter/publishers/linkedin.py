"""LinkedIn page: one post per item on an organization page, Posts API over plain HTTP.

``POST /rest/posts`` with the item as an article (``content.article``: the
link, its title and description) and a commentary in LinkedIn's "little text"
format, where ``\\ | { } @ [ ] ( ) < > # * _ ~`` are syntax: LinkedIn cuts a
post at the first one left unescaped, silently. So:

- plain text is backslash-escaped, every reserved character;
- the feed's hashtags are written as little-text hashtag templates,
  ``{hashtag|\\#|ConseilMunicipal}``, so they stay hashtags;
- a URL is left as it is (escaping ``_`` breaks ``utm_source`` links), except
  that the reserved characters that may appear in it — ``( ) [ ] { } < > | \\
  * ~`` — are percent-encoded, which keeps the address it names. The item's
  link is written that same way in the text and in the article.

The 3,000-character limit is counted on the escaped commentary, the stricter
reading. LinkedIn has no idempotency key: ``find`` reads the organization's
20 latest posts and looks for the article's link; LinkedIn's own 422
"Content is a duplicate of urn:li:share:…" is read as "already posted".

Access tokens last 60 days: with ``token_expires`` set, ``check`` and every
``publish`` log ``token-expiring`` in the last 7 days, and once it has passed
the account raises ``AuthError`` without calling LinkedIn.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

import twitter_text

from autoposter import logs
from autoposter.errors import AuthError, PublishError, RejectedError, UnavailableError
from autoposter.publishers import _http, _media
from autoposter.publishers._base import PublisherBase, Writer, extended
from autoposter.render import hashtags, shorten
from autoposter.types import AccountInfo, Item, Post, PostSpec, Receipt, Removal, SentPost

if TYPE_CHECKING:
    import httpx

API_URL = "https://api.linkedin.com"
# Chosen in December 2026: LinkedIn supports each monthly version for at least a
# year, then answers 426 NONEXISTENT_VERSION. Move it forward at least once a year.
LINKEDIN_VERSION = "202607"
VERSION_WARN_MONTHS = 10  # ``check`` warns past this age, before LinkedIn refuses it
LIMIT = 3000
TITLE_MAX = 400
DESCRIPTION_MAX = 600
FIND_COUNT = 20
WARN_DAYS = 7

RESERVED = frozenset("\\|{}@[]()<>#*_~")
_URL_ENCODE = {c: f"%{ord(c):02X}" for c in "()[]{}<>|\\*~"}
_DUPLICATE = re.compile(r"duplicate of (urn:li:(?:share|ugcPost):\d+)")
_SPACES = re.compile(r"(\s+)")


def safe_url(url: str) -> str:
    """``url`` with the little-text characters it may hold percent-encoded."""
    return "".join(_URL_ENCODE.get(c, c) for c in url)


def escape(text: str) -> str:
    return "".join("\\" + c if c in RESERVED else c for c in text)


def little(text: str, tags: frozenset[str] = frozenset()) -> str:
    """Plain text as a little-text commentary; words in ``tags`` (``#Tag``) become hashtags."""
    out: list[str] = []
    pos = 0
    for found in twitter_text.extract_urls_with_indices(text):
        start, end = found["indices"]
        if not str(found["url"]).lower().startswith(("http://", "https://")):
            continue
        out.append(_words(text[pos:start], tags))
        out.append(safe_url(text[start:end]))
        pos = end
    out.append(_words(text[pos:], tags))
    return "".join(out)


def _words(text: str, tags: frozenset[str]) -> str:
    return "".join(
        f"{{hashtag|\\#|{escape(part[1:])}}}" if part in tags else escape(part)
        for part in _SPACES.split(text)
    )


def version_age(version: str, today: date) -> int:
    """How many months old a ``Linkedin-Version`` (YYYYMM, or YYYYMM.NN) is on ``today``."""
    year, month = int(version[:4]), int(version[4:6])
    return (today.year - year) * 12 + today.month - month


def version_warning(account: str, version: str, today: date) -> str | None:
    """What ``check`` says about an account's ``linkedin_version`` that LinkedIn will soon
    refuse (more than ``VERSION_WARN_MONTHS`` old), or None."""
    if not re.fullmatch(r"20\d{4}(\.\d{2})?", version):
        return None  # the client refuses it when built, naming the key
    age = version_age(version, today)
    if age <= VERSION_WARN_MONTHS:
        return None
    return (
        f"accounts.{account}.linkedin_version {version} is {age} months old; LinkedIn stops "
        f"accepting a version after about a year: set a recent one (such as {LINKEDIN_VERSION})"
    )


def version_refused(account: str, version: str) -> str:
    """The reason an account is paused when LinkedIn no longer accepts its version."""
    return (
        f"version no longer accepted: LinkedIn refuses linkedin_version {version}; set "
        f"accounts.{account}.linkedin_version to a current one (YYYYMM, such as "
        f"{LINKEDIN_VERSION}) and reload or resume the account"
    )


def _expiry(value: object) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError("token_expires: expected a date such as 2026-12-31")


class LinkedInWriter(Writer):
    """Little-text commentaries of at most 3,000 characters, escaped, with an article card."""

    kind: ClassVar[str] = "linkedin"
    limit = LIMIT
    link_outside_text = True  # the article's ``source``

    def adapt(self, item: Item, spec: PostSpec) -> Item:
        return dataclasses.replace(item, link=safe_url(item.link))

    def counter(self, item: Item, spec: PostSpec) -> Callable[[str], int]:
        tags = _tags(spec)
        return lambda s: len(little(s, tags))

    def finish(self, post: Post, spec: PostSpec) -> Post:
        title = shorten(post.title, lambda t: len(t) <= TITLE_MAX) or post.title[:TITLE_MAX]
        description = shorten(post.summary, lambda t: len(t) <= DESCRIPTION_MAX)
        shortened = dataclasses.replace(post, title=title, summary=description)
        return extended(
            shortened, commentary=little(post.text, _tags(spec)), card=f"article: {title}"
        )


def _tags(spec: PostSpec) -> frozenset[str]:
    return frozenset(hashtags(spec.hashtags).split())


class LinkedInPublisher(PublisherBase):
    """An organization page on LinkedIn, posting as the organization."""

    kind: ClassVar[str] = "linkedin"
    writer_type: ClassVar[type[Writer]] = LinkedInWriter

    def __init__(
        self,
        *,
        name: str,
        organization_id: str | int,
        access_token: str,
        token_expires: str | date | None = None,
        linkedin_version: str | int = LINKEDIN_VERSION,
        api_url: str = API_URL,
        timeout: str = _media.DEFAULT_TIMEOUT,
        language: str | None = None,
        template: str | None = None,
        utm: bool = False,
    ) -> None:
        import httpx

        self.writer = LinkedInWriter(name=name, language=language, template=template, utm=utm)
        self.name = name
        organization = str(organization_id).strip().removeprefix("urn:li:organization:")
        if not organization.isdigit():
            raise ValueError("organization_id: expected the page's numeric id, such as 2414183")
        self.author = f"urn:li:organization:{organization}"
        self._token = _media.secret(access_token, "access_token")
        self.token_expires = _expiry(token_expires)
        self.linkedin_version = str(linkedin_version).strip()
        if not re.fullmatch(r"20\d{4}(\.\d{2})?", self.linkedin_version):
            raise ValueError(
                f"linkedin_version: expected a version such as {LINKEDIN_VERSION} (YYYYMM)"
            )
        self.api_url = _media.base_url(api_url)
        self.timeout = _media.seconds(timeout)
        self._http = httpx.Client(
            base_url=self.api_url,
            timeout=self.timeout,
            headers={
                "Authorization": f"Bearer {self._token}",
                "Linkedin-Version": self.linkedin_version,
                "X-Restli-Protocol-Version": "2.0.0",
                "User-Agent": _media.USER_AGENT,
            },
        )
        self._lock = threading.Lock()
        self.today: Callable[[], date] = lambda: datetime.now(UTC).date()

    @classmethod
    def config_warnings(cls, name: str, options: Mapping[str, Any], today: date) -> list[str]:
        version = str(options.get("linkedin_version", LINKEDIN_VERSION)).strip()
        warning = version_warning(name, version, today)
        return [] if warning is None else [warning]

    # -- publish -----------------------------------------------------------------------

    def publish(self, post: Post, *, key: str) -> Receipt:
        self._check_token()
        article: dict[str, Any] = {"source": post.link, "title": post.title or post.link}
        if post.summary:
            article["description"] = post.summary
        body = {
            "author": self.author,
            "commentary": post.extra.get("commentary", little(post.text)),
            "visibility": "PUBLIC",
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "content": {"article": article},
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
        with self._lock:
            try:
                response = self._send("POST", "/rest/posts", json=body)
            except _Duplicate as e:
                logs.event(
                    "linkedin-duplicate", level=logging.WARNING, account=self.name, urn=e.urn
                )
                return Receipt(remote_id=e.urn, url=post_url(e.urn))
        urn = response.headers.get("x-restli-id", "")
        if not urn:
            raise UnavailableError(self.name, "LinkedIn answered without the new post's id")
        return Receipt(remote_id=urn, url=post_url(urn))

    def find(self, post: Post, *, key: str) -> Receipt | None:
        with self._lock:
            response = self._send(
                "GET",
                f"/rest/posts?author={quote(self.author, safe='')}&q=author&count={FIND_COUNT}",
                headers={"X-RestLi-Method": "FINDER"},
            )
        elements = _http.json_object(response).get("elements")
        for element in elements if isinstance(elements, list) else []:
            if not isinstance(element, Mapping):
                continue
            content = element.get("content")
            article = content.get("article") if isinstance(content, Mapping) else None
            source = article.get("source") if isinstance(article, Mapping) else None
            if source in (post.link, safe_url(post.link)) and element.get("id"):
                return Receipt(remote_id=str(element["id"]), url=post_url(str(element["id"])))
        return None

    def check(self) -> AccountInfo:
        """The page's name and what LinkedIn accepts. The call is versioned, so a
        ``linkedin_version`` LinkedIn no longer serves raises AuthError saying so."""
        self._check_token()
        details = {
            "organization": self.author,
            "limit": f"{LIMIT} characters",
            "linkedin_version": f"{self.linkedin_version} (accepted)",
            "token expires": str(self.token_expires) if self.token_expires else "unknown",
        }
        warning = version_warning(self.name, self.linkedin_version, self.today())
        if warning is not None:
            details["warning"] = warning
        name = self.author
        with self._lock:
            try:
                response = self._send("GET", f"/rest/organizations/{self.author.split(':')[-1]}")
                name = str(_http.json_object(response).get("localizedName") or name)
            except AuthError:
                raise
            except RejectedError as e:
                details["name"] = f"not readable ({e.message})"
        return AccountInfo(name=name, details=details)

    def close(self) -> None:
        self._http.close()

    # -- taking back -------------------------------------------------------------------

    can_delete: ClassVar[bool] = True

    def delete(self, sent: SentPost) -> Removal:
        """``DELETE /rest/posts/{urn}``: 204, also for a post deleted before (the call is
        repeatable); a 404 says the post is gone too."""
        self._check_token()
        path = f"/rest/posts/{quote(sent.remote_id, safe='')}"
        with self._lock:
            try:
                self._send("DELETE", path, headers={"X-RestLi-Method": "DELETE"})
            except RejectedError as e:
                # The boundary above writes the status into the message: "refused (404): ...".
                if "(404)" in e.message or "(410)" in e.message:
                    return Removal.GONE
                raise
        return Removal.DELETED

    can_edit: ClassVar[bool] = True

    def edit(self, sent: SentPost, text: str) -> None:
        """A partial update of the post: only its ``commentary`` may change (the article
        card keeps the title it was posted with)."""
        self._check_token()
        path = f"/rest/posts/{quote(sent.remote_id, safe='')}"
        body = {"patch": {"$set": {"commentary": little(text)}}}
        with self._lock:
            self._send("POST", path, json=body, headers={"X-RestLi-Method": "PARTIAL_UPDATE"})

    # -- helpers -----------------------------------------------------------------------

    def _check_token(self) -> None:
        if self.token_expires is None:
            return
        left = (self.token_expires - self.today()).days
        if left < 0:
            raise AuthError(
                self.name,
                f"the LinkedIn access token expired on {self.token_expires}; "
                "generate a new one and update access_token and token_expires",
            )
        if left <= WARN_DAYS:
            logs.event(
                "token-expiring",
                level=logging.WARNING,
                account=self.name,
                expires=str(self.token_expires),
                days=left,
            )

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        import httpx

        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as e:
            raise _http.transport_error(self.name, e, what="cannot reach LinkedIn") from None
        status = response.status_code
        if status < 400:
            return response
        data = _http.json_object(response)
        message = logs.redact(
            str(data.get("message") or response.reason_phrase or "no details"), [self._token]
        )[:500]
        said = f"({status}): {message}"
        duplicate = _DUPLICATE.search(message)
        if status == 422 and duplicate:
            raise _Duplicate(duplicate.group(1))
        if status == 426:
            # The Linkedin-Version is past its year of support: the integration is out
            # of date, not this post.
            raise AuthError(
                self.name, f"{version_refused(self.name, self.linkedin_version)} {said}"
            )
        hint = {
            401: "LinkedIn refused the access token",
            403: "LinkedIn refused this action",
            429: "LinkedIn rate limit",
        }.get(status, "LinkedIn failed on its side" if status >= 500 else "LinkedIn refused")
        message = f"{hint} {said}"
        if status == 403:
            message += (
                "; the token needs w_organization_social (and r_organization_social to look "
                "posts up), granted by a page admin"
            )
        raise _http.status_error(
            self.name, status, message, retry_after=_http.retry_after(response.headers)
        )


class _Duplicate(PublishError):
    def __init__(self, urn: str) -> None:
        super().__init__("", f"duplicate of {urn}")
        self.urn = urn


def post_url(urn: str) -> str:
    return f"https://www.linkedin.com/feed/update/{urn}"
