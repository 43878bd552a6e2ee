"""Threads: one post per item on a Threads profile, Meta's Graph API for Threads over plain HTTP.

Posting takes two calls. ``POST /{user-id}/threads`` creates a *container*: a
``TEXT`` one with ``link_attachment`` set to the item's link, so that the card
shows, or an ``IMAGE`` one (``image_url``, which Meta downloads itself, and
``alt_text``) when the item has an image the ``images`` option lets through.
Then ``POST /{user-id}/threads_publish`` with its ``creation_id`` publishes it.
The container's status (``GET /{container-id}?fields=status,error_message``)
is read in between, and waited on while Meta says ``IN_PROGRESS`` (bounded).

The publish call is the commit point: a container that is never published is
harmless (Meta drops it after 24 hours), so a failure before it is never
"maybe posted". Meta has no idempotency key: ``find`` reads the profile's 25
latest threads and looks for the item's link (the link attachment, or the
text). An image Meta cannot use is left out and the item goes as text.

Limits, as Meta documents them: 500 characters with emoji counted as their
UTF-8 bytes; at most 5 distinct links per post (text and link attachment
together), refused since December 2025 with ``THREADS_API__LINK_LIMIT_EXCEEDED``,
so a text with more does not fit and is shortened; one topic tag, taken from
the feed's first hashtag (1 to 50 characters, no ``.`` or ``&``); 250 published
posts per profile in any 24 hours. That quota is kept here too: the account's
state holds the times of its posts of the last 24 hours, and a post that would
be the 251st raises ``BudgetExceededError`` (the account pauses until the
oldest leaves the window) without calling Meta.

Tokens. A long-lived token lasts 60 days and can be refreshed (``GET
/refresh_access_token?grant_type=th_refresh_token``) once it is a day old. The
publisher refreshes it when it has held it for ``refresh_after`` (7 days by
default) and keeps the new token with its expiry in the account's state, next
to a digest of the configured token: a new token in the configuration starts
afresh. The expiry is known from the first refresh on; from 10 days before it,
``check`` says so and every call logs ``token-expiring``; once past, the
account raises ``AuthError`` without calling Meta. A token Meta refuses
(Graph code 190, permissions 10 and 200-299) is ``AuthError``, which pauses
the account. Tokens travel as the ``access_token`` parameter, as Meta
documents; no URL, transport error or Meta message leaves this module with a
token in it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Final

import regex  # type: ignore[import-untyped]
import twitter_text

from autoposter import logs
from autoposter.config.fields import parse_duration
from autoposter.errors import (
    AuthError,
    BudgetExceededError,
    ConfigError,
    PublishError,
    RateLimitedError,
    RejectedError,
    UnavailableError,
)
from autoposter.publishers import _http, _media
from autoposter.publishers._base import (
    MemoryState,
    PublisherBase,
    Writer,
    extended,
    image_policy,
    with_policy,
)
from autoposter.render import hashtag
from autoposter.types import (
    AccountInfo,
    AccountStore,
    Image,
    Item,
    Post,
    PostSpec,
    Receipt,
    Removal,
    SentPost,
)

if TYPE_CHECKING:
    import httpx

API_URL: Final = "https://graph.threads.net"
API_VERSION: Final = "v1.0"
LIMIT: Final = 500
MAX_LINKS: Final = 5
DAILY_QUOTA: Final = 250
FIND_COUNT: Final = 25
TOPIC_MAX: Final = 50
REFRESH_AFTER: Final = "7d"
TOKEN_LIFETIME: Final = 60 * 86400.0
WARN_DAYS: Final = 10
# Seconds between reads of a container still in progress: 30 s in all, the bound of a post.
STATUS_WAITS: Final = (1.0, 2.0, 4.0, 8.0, 15.0)

AUTH_CODES: Final = frozenset({102, 190, 10}) | frozenset(range(200, 300))
RATE_CODES: Final = frozenset({4, 17, 32, 613})
TRANSIENT_CODES: Final = frozenset({1, 2})
LINK_LIMIT: Final = "THREADS_API__LINK_LIMIT_EXCEEDED"

_TOKEN_KEY: Final = "token"  # noqa: S105 (the state key, not a token)
_PUBLISHED_KEY: Final = "published"
_GRAPHEME = regex.compile(r"\X")
_EMOJI = regex.compile(r"[\p{Extended_Pictographic}\p{Regional_Indicator}]")


def text_length(text: str) -> int:
    """Meta's count of a Threads text: one per character, an emoji its UTF-8 bytes."""
    if text.isascii():
        return len(text)
    return sum(
        len(g.encode("utf-8")) if _EMOJI.search(g) else len(g) for g in _GRAPHEME.findall(text)
    )


def links(text: str, attachment: str | None = None) -> set[str]:
    """The distinct links Meta counts in a post: the text's URLs and the link attachment."""
    found = {str(url) for url in twitter_text.extract_urls(text)}
    if attachment:
        found.add(attachment)
    return found


def topic_tag(tags: tuple[str, ...]) -> str | None:
    """The feed's first hashtag as a Threads topic tag, or None when there is none."""
    for tag in tags:
        topic = hashtag(tag).lstrip("#").replace(".", "").replace("&", "")[:TOPIC_MAX]
        if topic:
            return topic
    return None


class ThreadsWriter(Writer):
    """Texts of at most 500 characters (emoji as UTF-8 bytes) and 5 links, with a link card."""

    kind: ClassVar[str] = "threads"
    limit = LIMIT

    def __init__(
        self,
        *,
        name: str,
        language: str | None = None,
        template: str | None = None,
        utm: bool = False,
        images: str = "with_alt",
    ) -> None:
        super().__init__(name=name, language=language, template=template, utm=utm)
        self.images = image_policy(images)

    def counter(self, item: Item, spec: PostSpec) -> Callable[[str], int]:
        # A text naming more than 5 links is refused, whatever its length: it does not
        # fit, so rendering shortens it (the summary goes first) until it has 5 or fewer.
        def length(text: str) -> int:
            too_many = len(links(text, item.link)) > MAX_LINKS
            return text_length(text) + (LIMIT + 1 if too_many else 0)

        return length

    def image(self, image: Image | None) -> Image | None:
        return with_policy(image, self.images)

    def finish(self, post: Post, spec: PostSpec) -> Post:
        extra = {"card": "image" if post.image else f"link: {post.link}"}
        topic = topic_tag(spec.hashtags)
        if topic:
            extra["topic_tag"] = topic
        return extended(post, **extra)


class ThreadsPublisher(PublisherBase):
    """One Threads profile, posting with a long-lived user access token."""

    kind: ClassVar[str] = "threads"
    writer_type: ClassVar[type[Writer]] = ThreadsWriter
    writer: ThreadsWriter

    def __init__(
        self,
        *,
        name: str,
        user_id: str | int,
        access_token: str,
        refresh_after: float | str = REFRESH_AFTER,
        api_url: str = API_URL,
        timeout: float | str = _media.DEFAULT_TIMEOUT,
        language: str | None = None,
        template: str | None = None,
        utm: bool = False,
        images: str = "with_alt",
    ) -> None:
        import httpx

        self.writer = ThreadsWriter(
            name=name, language=language, template=template, utm=utm, images=images
        )
        self.name = name
        self.images = self.writer.images
        self.user_id = str(user_id).strip()
        if not self.user_id.isdigit():
            raise ValueError("user_id: expected the profile's numeric Threads user id")
        self._configured = _media.secret(access_token, "access_token")
        self._token = self._configured
        try:
            self.refresh_after = parse_duration(refresh_after, "refresh_after")
        except ConfigError as e:
            raise ValueError(f"refresh_after: {e.message}") from None
        if not 86400 <= self.refresh_after <= 50 * 86400:
            # Meta refreshes a token only once it is a day old, and it lapses at 60 days.
            raise ValueError("refresh_after: must be between 1d and 50d")
        self.api_url = _media.base_url(api_url)
        self.timeout = _media.seconds(timeout)
        self._http = httpx.Client(
            base_url=self.api_url,
            timeout=self.timeout,
            headers={"User-Agent": _media.USER_AGENT},
        )
        self._state: AccountStore = MemoryState()
        self._lock = threading.RLock()
        self._loaded = False
        self._since: datetime | None = None
        self._expires: datetime | None = None
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.sleep: Callable[[float], None] = time.sleep

    def attach_state(self, state: AccountStore) -> None:
        """Keep the refreshed token, its expiry and the last day's post times in the
        account's stored state."""
        with self._lock:
            self._state = state
            self._loaded = False

    # -- publish -----------------------------------------------------------------------

    def publish(self, post: Post, *, key: str) -> Receipt:
        with self._lock:
            token = self._current_token()
            self._reserve_quota()
            container = self._container(post, token)
            try:
                answer = self._send(
                    "POST",
                    f"/{API_VERSION}/{self.user_id}/threads_publish",
                    data={"creation_id": container, "access_token": token},
                    commit=True,
                )
            except UnavailableError:
                self._count_post()  # it may be out there: it counts against the quota
                raise
            self._count_post()
            media_id = str(_http.json_object(answer).get("id") or "")
            if not media_id:
                raise UnavailableError(self.name, "Threads answered without the new post's id")
            return Receipt(remote_id=media_id, url=self._permalink(media_id, token))

    def find(self, post: Post, *, key: str) -> Receipt | None:
        with self._lock:
            token = self._current_token()
            answer = self._send(
                "GET",
                f"/{API_VERSION}/{self.user_id}/threads",
                params={
                    "fields": "id,permalink,text,link_attachment_url,timestamp",
                    "limit": str(FIND_COUNT),
                    "access_token": token,
                },
            )
        entries = _http.json_object(answer).get("data")
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, Mapping) or not entry.get("id"):
                continue
            attached = entry.get("link_attachment_url")
            if attached == post.link or post.link in str(entry.get("text") or ""):
                permalink = entry.get("permalink")
                return Receipt(
                    remote_id=str(entry["id"]), url=str(permalink) if permalink else None
                )
        return None

    def check(self) -> AccountInfo:
        with self._lock:
            token = self._current_token()
            me = _http.json_object(
                self._send(
                    "GET",
                    f"/{API_VERSION}/me",
                    params={"fields": "id,username", "access_token": token},
                )
            )
            limit = _http.json_object(
                self._send(
                    "GET",
                    f"/{API_VERSION}/{self.user_id}/threads_publishing_limit",
                    params={"fields": "quota_usage,config", "access_token": token},
                )
            )
            expires, since = self._expires, self._since
        details = {
            "user_id": self.user_id,
            "limit": f"{LIMIT} characters, {MAX_LINKS} links",
            "images": self.images,
            "quota": _quota(limit),
            "token expires": _expiry_text(expires, since, self.refresh_after),
        }
        if str(me.get("id") or self.user_id) != self.user_id:
            details["warning"] = f"the token is for user id {me.get('id')}, not {self.user_id}"
        left = _days_left(expires, self.now())
        if left is not None and left <= WARN_DAYS:
            details["warning"] = (
                f"the access token expires in {left} days; generate a new one "
                "and update access_token"
            )
        return AccountInfo(name=f"@{me.get('username', '?')}", details=details)

    def close(self) -> None:
        self._http.close()

    # -- posting steps -----------------------------------------------------------------

    def _container(self, post: Post, token: str) -> str:
        """A container for ``post``, ready to publish: with its image when Meta can use
        it, else as text with the link card."""
        base: dict[str, str] = {"text": post.text, "access_token": token}
        topic = post.extra.get("topic_tag")
        if topic:
            base["topic_tag"] = topic
        if post.image is not None:
            fields = {**base, "media_type": "IMAGE", "image_url": post.image.url}
            if post.image.alt:
                fields["alt_text"] = post.image.alt
            try:
                return self._ready(self._create(fields), token)
            except RejectedError as e:
                # Meta downloads the image itself; a text post is better than none.
                logs.event(
                    "image-skipped",
                    level=logging.WARNING,
                    account=self.name,
                    image=post.image.url,
                    reason=e.message,
                )
        fields = {**base, "media_type": "TEXT", "link_attachment": post.link}
        return self._ready(self._create(fields), token)

    def _create(self, fields: Mapping[str, str]) -> str:
        answer = self._send("POST", f"/{API_VERSION}/{self.user_id}/threads", data=dict(fields))
        container = str(_http.json_object(answer).get("id") or "")
        if not container:
            raise UnavailableError(
                self.name, "Threads answered without the container's id", maybe_posted=False
            )
        return container

    def _status(self, container: str, token: str) -> tuple[str, str]:
        answer = _http.json_object(
            self._send(
                "GET",
                f"/{API_VERSION}/{container}",
                params={"fields": "status,error_message", "access_token": token},
            )
        )
        return str(answer.get("status") or ""), str(answer.get("error_message") or "no details")

    def _ready(self, container: str, token: str) -> str:
        """``container`` once it can be published, waiting (bounded) while Meta prepares
        it; raises RejectedError when Meta refuses it, UnavailableError when not ready."""
        status = ""
        for wait in (*STATUS_WAITS, None):
            status, error = self._status(container, token)
            if status in ("FINISHED", ""):
                return container
            if status == "ERROR":
                raise RejectedError(self.name, f"Threads refused the post ({error})")
            if status == "PUBLISHED":  # never for a new container; publishing again fails
                raise UnavailableError(self.name, "the container is already published")
            if status != "IN_PROGRESS" or wait is None:
                break
            self.sleep(wait)
        raise UnavailableError(
            self.name,
            f"Threads did not get the post ready in time (status {status or 'unknown'})",
            maybe_posted=False,
        )

    def _permalink(self, media_id: str, token: str) -> str | None:
        """The new post's public address; None when Meta does not say (the post exists)."""
        try:
            answer = self._send(
                "GET",
                f"/{API_VERSION}/{media_id}",
                params={"fields": "permalink", "access_token": token},
            )
        except PublishError:
            return None
        permalink = _http.json_object(answer).get("permalink")
        return str(permalink) if permalink else None

    # -- the 250-post quota ------------------------------------------------------------

    def _recent_posts(self, now: datetime) -> list[float]:
        try:
            stored = json.loads(self._state.get(_PUBLISHED_KEY) or "[]")
        except ValueError:
            stored = []
        cutoff = now.timestamp() - 86400
        return sorted(float(t) for t in stored if isinstance(t, int | float) and float(t) > cutoff)

    def _reserve_quota(self) -> None:
        now = self.now()
        recent = self._recent_posts(now)
        if len(recent) < DAILY_QUOTA:
            return
        wait = max(recent[len(recent) - DAILY_QUOTA] + 86400 - now.timestamp(), 1.0)
        raise BudgetExceededError(
            self.name,
            f"Threads allows {DAILY_QUOTA} posts per profile in 24 hours, and this profile "
            f"has made them; posts resume in {wait / 3600:.1f} h",
            retry_after=wait,
        )

    def _count_post(self) -> None:
        now = self.now()
        recent = [*self._recent_posts(now), now.timestamp()]
        self._state.set(_PUBLISHED_KEY, json.dumps(recent[-DAILY_QUOTA:]))

    # -- the token ---------------------------------------------------------------------

    def _current_token(self) -> str:
        """The token to call Meta with: the stored refreshed one, refreshed again when
        held for ``refresh_after``. Raises AuthError once it is known to have expired."""
        now = self.now()
        if not self._loaded:
            self._load_token(now)
        since = self._since or now
        if (now - since).total_seconds() >= self.refresh_after:
            self._refresh(now)
        left = _days_left(self._expires, now)
        if left is not None and left < 0:
            raise AuthError(
                self.name,
                f"the Threads access token expired on {self._expires:%Y-%m-%d}; "
                "generate a new one and update access_token",
            )
        if left is not None and left <= WARN_DAYS:
            logs.event(
                "token-expiring",
                level=logging.WARNING,
                account=self.name,
                expires=f"{self._expires:%Y-%m-%d}",
                days=left,
            )
        return self._token

    def _load_token(self, now: datetime) -> None:
        self._loaded = True
        digest = _digest(self._configured)
        try:
            saved = json.loads(self._state.get(_TOKEN_KEY) or "null")
        except ValueError:
            saved = None
        if isinstance(saved, Mapping) and saved.get("for") == digest:
            token = saved.get("token")
            self._token = token if isinstance(token, str) and token else self._configured
            self._since = _moment(saved.get("since")) or now
            self._expires = _moment(saved.get("expires"))
            logs.add_secrets([self._token])
            return
        # A token not seen before: its age is unknown, so it is held from now on.
        self._token, self._since, self._expires = self._configured, now, None
        self._save_token(None)

    def _save_token(self, refreshed: str | None) -> None:
        entry = {
            "for": _digest(self._configured),
            "token": refreshed,
            "since": self._since.isoformat() if self._since else None,
            "expires": self._expires.isoformat() if self._expires else None,
        }
        self._state.set(_TOKEN_KEY, json.dumps(entry))

    def _refresh(self, now: datetime) -> None:
        try:
            answer = _http.json_object(
                self._send(
                    "GET",
                    "/refresh_access_token",
                    params={"grant_type": "th_refresh_token", "access_token": self._token},
                )
            )
        except AuthError:
            raise
        except PublishError as e:
            # The token still works for weeks: try again at the next call.
            logs.event(
                "token-refresh-failed", level=logging.WARNING, account=self.name, error=e.message
            )
            return
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            logs.event(
                "token-refresh-failed",
                level=logging.WARNING,
                account=self.name,
                error="Threads answered without a token",
            )
            return
        expires_in = answer.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else TOKEN_LIFETIME
        logs.add_secrets([token])
        self._token, self._since = token, now
        self._expires = now + timedelta(seconds=lifetime)
        self._save_token(token)
        logs.event("token-refreshed", account=self.name, expires=f"{self._expires:%Y-%m-%d}")

    # -- errors ------------------------------------------------------------------------

    def _send(
        self, method: str, path: str, *, commit: bool = False, **kwargs: Any
    ) -> httpx.Response:
        """One request; errors read into the tree. Only the publish call (``commit``) can
        leave a post behind: any other failure is never "maybe posted"."""
        import httpx

        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as e:
            # The exception's text names the URL, whose query carries the token.
            unreached = _http.transport_error(self.name, e, what="cannot reach Threads")
            if not commit:
                unreached.maybe_posted = False
            raise unreached from None
        if response.status_code < 400:
            return response
        refused = self._translate(response)
        if not commit and isinstance(refused, UnavailableError):
            refused.maybe_posted = False
        raise refused

    def _translate(self, response: httpx.Response) -> PublishError:
        status = response.status_code
        body = _http.json_object(response).get("error")
        error: Mapping[str, Any] = body if isinstance(body, Mapping) else {}
        code = error.get("code") if isinstance(error.get("code"), int) else None
        words = " ".join(str(v) for v in error.values() if isinstance(v, str))
        message = str(error.get("message") or response.reason_phrase or "no details")
        message = logs.redact(message, [self._token, self._configured])[:500]
        said = f"(HTTP {status}, code {code}): {message}"
        if LINK_LIMIT in words:
            return RejectedError(
                self.name, f"Threads refused a post with more than {MAX_LINKS} links {said}"
            )
        if code in AUTH_CODES:
            return AuthError(
                self.name,
                f"Threads refused the access token {said}; generate a new long-lived token "
                "(threads_basic and threads_content_publish) and update access_token",
            )
        retry_after = _http.retry_after(response.headers)
        if code in RATE_CODES:
            return RateLimitedError(
                self.name, f"Threads rate limit {said}", retry_after=retry_after
            )
        if code in TRANSIENT_CODES or status >= 500:
            return UnavailableError(self.name, f"Threads failed on its side {said}")
        if code is not None and status < 500 and status not in (401, 403, 429):
            return RejectedError(self.name, f"Threads refused the post {said}")
        return _http.status_error(
            self.name, status, f"Threads answered {said}", retry_after=retry_after
        )

    # -- taking back -------------------------------------------------------------------

    can_delete: ClassVar[bool] = True

    def delete(self, sent: SentPost) -> Removal:
        """``DELETE /{threads-media-id}`` (Meta allows 100 a day per profile). Graph answers
        a post that no longer exists with its "does not exist" error (code 100): gone."""
        with self._lock:
            token = self._current_token()
            try:
                self._send(
                    "DELETE", f"/{API_VERSION}/{sent.remote_id}", params={"access_token": token}
                )
            except RejectedError as e:
                if "does not exist" in e.message:
                    return Removal.GONE
                raise
        return Removal.DELETED


def _digest(token: str) -> str:
    """Names the configured token in the state without holding it."""
    return hashlib.sha256(b"autoposter-threads\0" + token.encode("utf-8")).hexdigest()[:32]


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _days_left(expires: datetime | None, now: datetime) -> int | None:
    if expires is None:
        return None
    seconds = (expires - now).total_seconds()
    return int(seconds // 86400)


def _expiry_text(expires: datetime | None, since: datetime | None, refresh_after: float) -> str:
    if expires is not None:
        return f"{expires:%Y-%m-%d}"
    if since is not None:
        first = since + timedelta(seconds=refresh_after)
        return f"unknown until the first refresh, on {first:%Y-%m-%d}"
    return "unknown"


def _quota(answer: Mapping[str, Any]) -> str:
    data = answer.get("data")
    entry: Mapping[str, Any] = {}
    if isinstance(data, list) and data and isinstance(data[0], Mapping):
        entry = data[0]
    config = entry.get("config")
    config = config if isinstance(config, Mapping) else {}
    used, total = entry.get("quota_usage"), config.get("quota_total", DAILY_QUOTA)
    if not isinstance(used, int):
        return "unknown"
    return f"{used}/{total} posts in 24 h"
