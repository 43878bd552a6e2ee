"""X (formerly Twitter): one post per item through tweepy's ``Client``, OAuth 1.0a user context.

Rendering counts as X does (``twitter-text``: 280 weighted characters, every
URL 23, CJK and emoji 2). tweepy has its host hard-coded and sets no timeout:
the client's ``requests`` session is replaced by one that sends to ``api_url``
and puts a timeout on every request. tweepy never sleeps here
(``wait_on_rate_limit`` stays off): a 429 becomes ``RateLimitedError`` with
the seconds until ``x-rate-limit-reset``.

X has no idempotency key. Its answer to the same text twice, 403 "duplicate
content", means the post exists: ``publish`` then looks for it among the
account's recent posts (by link, else by text) and returns its receipt, or a
receipt whose ``remote_id`` is ``"duplicate"`` and ``url`` None when it is not
among them. ``find`` makes the same look-up.

``monthly_budget`` (US dollars) caps X's pay-per-use bill: a post with a URL is
counted $0.20 and one without $0.015 (X's 2026 prices), in the account's state
under ``spend:YYYY-MM``. A post that would go over the budget is not sent: it
raises ``RateLimitedError`` with ``retry_after`` = the seconds until the next
month (UTC) and a message starting "monthly budget of $N reached". A request
whose outcome is unknown (timeout, 5xx) stays counted: better to stop a post
early than to overspend.

Images go through the v2 media upload (initialize, append, finalize) with
their alt text set through ``/2/media/metadata``; by default only an image with
alt text is attached (``images: with_alt``), ``always`` attaches any image,
``never`` none. An image that cannot be downloaded or is not a JPEG, PNG, GIF
or WebP of at most 5 MB is left out and the post goes without it.
"""

from __future__ import annotations

import base64
import html
import logging
import re
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import twitter_text

from autoposter import logs
from autoposter.errors import (
    AuthError,
    BudgetExceededError,
    PublishError,
    RejectedError,
    UnavailableError,
)
from autoposter.publishers import _http, _media
from autoposter.publishers._base import (
    MemoryState as _MemoryState,
    PublisherBase,
    Writer,
    extended,
    image_policy,
    with_policy,
)
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
    import requests
    import tweepy

API_URL = "https://api.twitter.com"  # tweepy's own host, which it hard-codes
LIMIT = 280
IMAGE_MAX_BYTES = 5 * 1024 * 1024
SEGMENT_BYTES = 1024 * 1024
ALT_MAX = 1000
# X's 2026 prices, in thousandths of a dollar so that sums stay exact.
COST_WITH_URL = 200
COST_WITHOUT_URL = 15
LOOKUP_COUNT = 20

_T = TypeVar("_T")
_WHITESPACE = re.compile(r"\s+")
_AUTH_HINTS = (
    "oauth",
    "permission",
    "not permitted",
    "enroll",
    "suspended",
    "locked",
    "client",
    "access level",
)

# X API v2 problems that concern the developer app or the account, not the post
# (X API v2 error docs, checked 2026-12); what to do about each.
_ACCOUNT_PROBLEMS = {
    "client-not-enrolled": "X refuses the app: attach it to a Project in the developer portal",
    "client-forbidden": "X refuses the app: attach it to a Project in the developer portal",
    "oauth1-permissions": "X refuses the app's permissions: set them to Read and write in the "
    "developer portal, then generate new access tokens",
    "unsupported-authentication": "X refuses this kind of authentication: use OAuth 1.0a "
    "user tokens (consumer key and secret, access token and secret)",
}


def weighted_length(text: str) -> int:
    """The length X counts: 280 at most, URLs 23, CJK and most emoji 2."""
    return int(twitter_text.parse_tweet(text).weightedLength)


def has_url(text: str) -> bool:
    return bool(twitter_text.extract_urls(text))


class _Duplicate(Exception):
    """X said the text was already posted."""


def routed_session(origin: str, base: str, timeout: float) -> requests.Session:
    """A requests session that sends what was meant for ``origin`` to ``base`` instead,
    and gives every request a timeout. The URL is rewritten before the request is
    prepared, so an OAuth 1.0a signature covers the URL actually sent. (Defined
    here: requests is imported by the client only.)"""
    import requests

    origin, base = origin.rstrip("/"), base.rstrip("/")

    class RoutedSession(requests.Session):
        def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
            if isinstance(url, str) and url.startswith(origin):
                url = base + url[len(origin) :]
            if kwargs.get("timeout") is None:
                kwargs["timeout"] = timeout
            return super().request(method, url, *args, **kwargs)

    return RoutedSession()


def month_key(now: datetime) -> str:
    return f"spend:{now:%Y-%m}"


def seconds_to_next_month(now: datetime) -> float:
    first = datetime(now.year + (now.month == 12), now.month % 12 + 1, 1, tzinfo=UTC)
    return max(1.0, (first - now).total_seconds())


class XWriter(Writer):
    """Posts of at most 280 weighted characters; an image according to ``images``."""

    kind: ClassVar[str] = "x"
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
        return weighted_length

    def image(self, image: Image | None) -> Image | None:
        return with_policy(image, self.images)

    def finish(self, post: Post, spec: PostSpec) -> Post:
        return extended(post, length=f"{weighted_length(post.text)}/{LIMIT} weighted")


class XPublisher(PublisherBase):
    """An X account, posting as the user whose access token is configured."""

    kind: ClassVar[str] = "x"
    writer_type: ClassVar[type[Writer]] = XWriter

    def __init__(
        self,
        *,
        name: str,
        consumer_key: str,
        consumer_secret: str,
        access_token: str,
        access_token_secret: str,
        api_url: str = API_URL,
        timeout: str = _media.DEFAULT_TIMEOUT,
        language: str | None = None,
        template: str | None = None,
        utm: bool = False,
        monthly_budget: float | None = None,
        images: str = "with_alt",
    ) -> None:
        import tweepy

        self.writer = XWriter(
            name=name, language=language, template=template, utm=utm, images=images
        )
        self.name = name
        self.api_url = _media.base_url(api_url)
        self.timeout = _media.seconds(timeout)
        self.images = self.writer.images
        if monthly_budget is not None and (
            isinstance(monthly_budget, bool)
            or not isinstance(monthly_budget, int | float)
            or monthly_budget < 0
        ):
            raise ValueError("monthly_budget: expected an amount in US dollars, such as 20")
        self.monthly_budget = None if monthly_budget is None else float(monthly_budget)
        keys = {
            "consumer_key": consumer_key,
            "consumer_secret": consumer_secret,
            "access_token": access_token,
            "access_token_secret": access_token_secret,
        }
        checked = {key: _media.secret(value, key) for key, value in keys.items()}
        self._secrets = sorted(checked.values(), key=len, reverse=True)
        self._client = tweepy.Client(**checked, return_type=dict, wait_on_rate_limit=False)
        self._client.session = routed_session(API_URL, self.api_url, self.timeout)
        self._state: AccountStore = _MemoryState()
        self._user_id: str | None = None
        self._lock = threading.Lock()
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)

    def attach_state(self, state: AccountStore) -> None:
        """Keep the month's spending in the account's stored state."""
        self._state = state

    # -- publish -----------------------------------------------------------------------

    def publish(self, post: Post, *, key: str) -> Receipt:
        with self._lock:
            media_ids = self._media_for(post)
            cost = COST_WITH_URL if has_url(post.text) else COST_WITHOUT_URL
            self._reserve(cost)
            body: dict[str, Any] = {"text": post.text, "user_auth": True}
            if media_ids:
                body["media_ids"] = media_ids
            try:
                answer = self._call(lambda: self._client.create_tweet(**body))
            except _Duplicate:
                self._refund(cost)
                found = self._lookup(post)
                logs.event(
                    "x-duplicate",
                    level=logging.WARNING,
                    account=self.name,
                    found=found.url if found else "not among recent posts",
                )
                return found or Receipt(remote_id="duplicate", url=None)
            except UnavailableError:
                raise  # the post may exist: its cost stays counted
            except PublishError:
                self._refund(cost)
                raise
            tweet_id = str(_data(answer).get("id", ""))
            if not tweet_id:
                raise UnavailableError(self.name, "X answered without the new post's id")
            return Receipt(remote_id=tweet_id, url=status_url(tweet_id))

    def find(self, post: Post, *, key: str) -> Receipt | None:
        with self._lock:
            return self._lookup(post)

    def check(self) -> AccountInfo:
        with self._lock:
            answer = self._call(lambda: self._client.get_me(user_auth=True))
        user = _data(answer)
        self._user_id = str(user.get("id") or "") or None
        details = {"limit": f"{LIMIT} weighted characters (URLs 23)", "images": self.images}
        if self.monthly_budget is not None:
            spent = self._spent(month_key(self.now())) / 1000
            details["monthly budget"] = f"${self.monthly_budget:.2f} (spent ${spent:.3f})"
        return AccountInfo(name=f"@{user.get('username', '?')}", details=details)

    def close(self) -> None:
        self._client.session.close()

    # -- taking back -------------------------------------------------------------------

    can_delete: ClassVar[bool] = True

    def delete(self, sent: SentPost) -> Removal:
        """``DELETE /2/tweets/:id``: ``{"data": {"deleted": true}}``; a post already gone
        is answered 404 (or ``deleted: false``)."""
        import tweepy

        with self._lock:
            try:
                answer = self._call(lambda: self._client.delete_tweet(sent.remote_id))
            except RejectedError as e:
                cause = e.__context__
                if isinstance(cause, tweepy.HTTPException) and _status(cause) in (404, 410):
                    return Removal.GONE
                raise
        return Removal.DELETED if _data(answer).get("deleted") is True else Removal.GONE

    # -- budget ------------------------------------------------------------------------

    def _spent(self, key: str) -> int:
        value = self._state.get(key)
        return int(value) if value and value.isdigit() else 0

    def _reserve(self, cost: int) -> None:
        now = self.now()
        key = month_key(now)
        spent = self._spent(key)
        if self.monthly_budget is not None and spent + cost > round(self.monthly_budget * 1000):
            budget = f"{self.monthly_budget:g}"
            logs.event(
                "x-budget-reached",
                level=logging.WARNING,
                account=self.name,
                budget=budget,
                spent=f"{spent / 1000:.3f}",
            )
            raise BudgetExceededError(
                self.name,
                f"monthly budget of ${budget} reached (${spent / 1000:.3f} spent in {now:%Y-%m}); "
                "posts resume next month, or raise monthly_budget",
                retry_after=seconds_to_next_month(now),
            )
        self._state.set(key, str(spent + cost))

    def _refund(self, cost: int) -> None:
        key = month_key(self.now())
        self._state.set(key, str(max(0, self._spent(key) - cost)))

    # -- media -------------------------------------------------------------------------

    def _media_for(self, post: Post) -> list[str]:
        if post.image is None:
            return []
        try:
            image = _media.download_image(
                post.image.url,
                max_bytes=IMAGE_MAX_BYTES,
                timeout=self.timeout,
                allow_networks=self.allow_networks,
            )
        except _media.MediaError as e:
            logs.event("image-skipped", level=logging.WARNING, account=self.name, reason=str(e))
            return []
        media_id = self._upload(image)
        alt = (post.image.alt or "").strip()
        if alt:
            self._call(
                lambda: self._client.request(
                    "POST",
                    "/2/media/metadata",
                    json={"id": media_id, "metadata": {"alt_text": {"text": alt[:ALT_MAX]}}},
                    user_auth=True,
                )
            )
        return [media_id]

    def _upload(self, image: _media.Downloaded) -> str:
        started = self._call(
            lambda: self._client.request(
                "POST",
                "/2/media/upload/initialize",
                json={
                    "media_type": image.content_type,
                    "total_bytes": len(image.data),
                    "media_category": "tweet_gif"
                    if image.content_type == "image/gif"
                    else "tweet_image",
                },
                user_auth=True,
            )
        )
        media_id = str(_data(_http.json_object(started)).get("id", ""))
        if not media_id:
            raise UnavailableError(self.name, "X's media upload answered without an id")
        for index, offset in enumerate(range(0, len(image.data), SEGMENT_BYTES)):
            segment = base64.b64encode(image.data[offset : offset + SEGMENT_BYTES]).decode()
            self._call(
                lambda segment=segment, index=index: self._client.request(  # type: ignore[misc]
                    "POST",
                    f"/2/media/upload/{media_id}/append",
                    json={"media": segment, "segment_index": index},
                    user_auth=True,
                )
            )
        finished = self._call(
            lambda: self._client.request(
                "POST", f"/2/media/upload/{media_id}/finalize", user_auth=True
            )
        )
        state = (
            _data(_http.json_object(finished)).get("processing_info", {}).get("state", "succeeded")
        )
        if state == "failed":
            raise RejectedError(self.name, "X could not process the image")
        return media_id

    # -- look-up -----------------------------------------------------------------------

    def _lookup(self, post: Post) -> Receipt | None:
        if self._user_id is None:
            me = _data(self._call(lambda: self._client.get_me(user_auth=True)))
            self._user_id = str(me.get("id") or "") or None
            if self._user_id is None:
                raise UnavailableError(self.name, "X did not say who this account is")
        user_id = self._user_id
        answer = self._call(
            lambda: self._client.get_users_tweets(
                user_id,
                max_results=LOOKUP_COUNT,
                tweet_fields=["entities", "created_at"],
                user_auth=True,
            )
        )
        tweets = answer.get("data") if isinstance(answer, Mapping) else None
        wanted = _comparable(post.text)
        for tweet in tweets if isinstance(tweets, list) else []:
            if not isinstance(tweet, Mapping):
                continue
            urls = (tweet.get("entities") or {}).get("urls") or []
            links = {
                u.get(field)
                for u in urls
                if isinstance(u, Mapping)
                for field in ("expanded_url", "unwound_url")
            }
            same_text = bool(wanted) and _comparable(str(tweet.get("text", ""))) == wanted
            if post.link in links or same_text:
                tweet_id = str(tweet.get("id"))
                return Receipt(remote_id=tweet_id, url=status_url(tweet_id))
        return None

    # -- errors ------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        return logs.redact(text, self._secrets)

    def _call(self, fn: Callable[[], _T]) -> _T:
        """Run one tweepy call, its errors translated into autoposter's."""
        import requests
        import tweepy

        try:
            return fn()
        except tweepy.HTTPException as e:
            raise self._error(e) from None
        except requests.RequestException as e:
            raise _http.transport_error(self.name, e, what="cannot reach X") from None
        except tweepy.TweepyException as e:
            raise UnavailableError(self.name, f"X call failed ({type(e).__name__})") from None

    def _error(self, e: tweepy.HTTPException) -> Exception:
        status, message = _status(e), self._message(e)
        problem = _problem(e)
        if problem in _ACCOUNT_PROBLEMS:
            return AuthError(self.name, f"{_ACCOUNT_PROBLEMS[problem]} ({status}): {message}")
        if status == 403:
            # X's own 403s: the same text twice means the post exists; a refused
            # account is an auth fault; anything else refuses this post only.
            if "duplicate content" in message.lower():
                return _Duplicate()
            if not any(hint in message.lower() for hint in _AUTH_HINTS):
                return RejectedError(self.name, f"X refused the post (403): {message}")
        retry_after = None
        if status == 429:
            # tweepy reads x-rate-limit-reset, X's own header, into reset_time.
            reset = getattr(e, "reset_time", None)
            retry_after = max(1.0, reset - self.now().timestamp()) if reset else None
        said = {401: "X refused the credentials", 403: "X refused this account"}.get(
            status, "X rate limit reached" if status == 429 else "X answered"
        )
        return _http.status_error(
            self.name, status or 500, f"{said} ({status}): {message}", retry_after=retry_after
        )

    def _message(self, error: tweepy.HTTPException) -> str:
        messages = [str(m) for m in getattr(error, "api_messages", []) if m]
        text = "; ".join(messages) or str(getattr(error.response, "reason", "")) or "no details"
        return self._redact(text)[:500]


def status_url(tweet_id: str) -> str:
    return f"https://x.com/i/web/status/{tweet_id}"


def _problem(error: tweepy.HTTPException) -> str:
    """The name of X's problem (``reason``, else the last part of ``type``), or ""."""
    try:
        data = error.response.json()
    except ValueError:
        return ""
    if not isinstance(data, Mapping):
        return ""
    reason = data.get("reason")
    if isinstance(reason, str) and reason:
        return reason
    kind = data.get("type")
    return kind.rsplit("/", 1)[-1] if isinstance(kind, str) else ""


def _status(error: tweepy.HTTPException) -> int:
    return int(getattr(error.response, "status_code", 0) or 0)


def _data(answer: Any) -> Mapping[str, Any]:
    data = answer.get("data") if isinstance(answer, Mapping) else None
    return data if isinstance(data, Mapping) else {}


def _comparable(text: str) -> str:
    """A post's text as X gives it back, for comparison: URLs out (X rewrites them to
    t.co), HTML entities decoded (X escapes & < >), whitespace folded."""
    text = html.unescape(text)
    for url in sorted(twitter_text.extract_urls(text), key=len, reverse=True):
        text = text.replace(url, " ")
    text = re.sub(r"https://t\.co/\w+", " ", text)
    return _WHITESPACE.sub(" ", text).strip()


__all__ = ["LIMIT", "XPublisher", "weighted_length"]
