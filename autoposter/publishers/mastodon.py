"""Mastodon, and servers speaking its API (GoToSocial, Pleroma, Akkoma), through Mastodon.py.

The account block::

    ville_mastodon:
      type: mastodon
      api_url: https://social.ville.fr    # the instance (required)
      access_token: ${MASTODON_TOKEN}     # or access_token_file: (required; secret)
      timeout: 20s
      visibility: public                  # public | unlisted | private (followers only)
      spoiler_text: ""                    # a content warning on every post
      language: fr                        # when the item does not say its language
      template: "{title}\\n\\n{summary}\\n\\n{link}"   # instead of the feed's template
      utm: false                          # campaign tags on the link
      images: with_alt                    # with_alt | always | never
      limit: 500                          # instead of the instance's own limit

Length is counted as Mastodon's ``StatusLengthValidator`` counts it: grapheme
clusters of the content warning plus the text, every URL counting
``characters_reserved_per_url`` (23). The post's own link counts 23; any other
URL in the text counts as the worse of the server's two possible readings
(23 plus what follows, or its own length), so a post never goes over.

The limit is the instance's, read once (``configuration.statuses`` of
``/api/v2/instance``) by ``check`` or the first ``publish``, kept in the
account's state across restarts; until then 500. ``render`` stays pure and
uses what is known; a post rendered for 500 on an instance that turns out to
allow less is refused by ``publish`` before any request, retryably, and is
written again for the real limit.

``publish`` sends the delivery's key as ``Idempotency-Key`` (the server
answers the same status for the same key within an hour); past that hour,
``find`` looks for the item's link among the account's 40 latest statuses.
"""

from __future__ import annotations

import html
import io
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Final, TypeVar
from urllib.parse import unquote, urlsplit

from autoposter import logs
from autoposter.errors import AuthError, PublishError, RateLimitedError, UnavailableError
from autoposter.publishers import _http
from autoposter.publishers._base import PublisherBase, Writer, extended, image_policy, with_policy
from autoposter.publishers._media import (
    USER_AGENT,
    MediaError,
    base_url,
    choice,
    download_image,
    seconds,
    secret,
)
from autoposter.publishers._text import graphemes
from autoposter.render import shorten
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
    from mastodon import MastodonAPIError, MastodonError

__all__ = ["MastodonPublisher", "MastodonWriter", "mastodon_language", "status_length"]

T = TypeVar("T")

DEFAULT_LIMIT: Final = 500
URL_CHARS: Final = 23
VISIBILITIES: Final = ("public", "unlisted", "private")
MAX_IMAGE_BYTES: Final = 8_000_000  # under every instance's limit (Mastodon 3: 10 MB, 4: 16 MB)
MAX_DESCRIPTION: Final = 1500  # characters of alt text (MediaAttachment::MAX_DESCRIPTION_LENGTH)
RECENT_STATUSES: Final = 40
SCOPES: Final = "write:statuses write:media read:accounts read:statuses"

# The version assumed instead of asking the server (no request at construction;
# media go to /api/v2/media, which every current server has).
_ASSUMED_VERSION: Final = "4.0.0"
_LIMIT_RETRY_AFTER: Final = 600.0  # seconds before asking the instance its limit again
_MEDIA_POLLS: Final = 5
_STATE_KEY: Final = "instance"

_URL_TOKEN = re.compile(r"https?://\S+", re.IGNORECASE)
_SHORTEST_URL: Final = len("http://a.bc")
# A link ending with one of these, or holding brackets, may be read shorter by the server.
_UNSAFE_LINK_END: Final = "!*\"'();:=,.$%[]~&|@?"
_HREF = re.compile(r"""href=["']([^"']+)["']""")
_REGIONAL: Final = {"zh-cn": "zh-CN", "zh-hk": "zh-HK", "zh-tw": "zh-TW", "zh-yue": "zh-YUE"}
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")


def status_length(
    text: str, *, spoiler_text: str = "", link: str | None = None, url_chars: int = URL_CHARS
) -> int:
    """The length Mastodon counts for ``text`` with ``spoiler_text``, never less.

    ``link`` (the post's own link) counts ``url_chars``, as any URL does on the
    server. Another URL counts its own length plus the difference between
    ``url_chars`` and the shortest URL, covering whichever part of it the
    server recognizes.
    """
    pieces: list[str] = []
    extra = 0
    position = 0
    clean = link is not None and _is_clean(link)
    for match in _URL_TOKEN.finditer(text):
        token = match.group()
        pieces.append(text[position : match.start()])
        if clean and link is not None and token.startswith(link):
            pieces.append("x" * url_chars)
            pieces.append(token[len(link) :])
        else:
            pieces.append(token)
            extra += max(url_chars - _SHORTEST_URL, 0)
        position = match.end()
    pieces.append(text[position:])
    return graphemes(spoiler_text + "".join(pieces)) + extra


def _is_clean(link: str) -> bool:
    """Whether the server reads ``link`` whole as one URL."""
    return bool(link) and link[-1] not in _UNSAFE_LINK_END and not any(c in link for c in "()<>")


def mastodon_language(tag: str | None) -> str | None:
    """The ISO 639 code Mastodon takes for a BCP 47 tag: ``fr-FR`` -> ``fr``, ``zh-TW`` kept."""
    if not tag:
        return None
    lowered = tag.strip().replace("_", "-").lower()
    if lowered in _REGIONAL:
        return _REGIONAL[lowered]
    primary = lowered.split("-")[0]
    return primary if primary.isascii() and primary.isalpha() and 2 <= len(primary) <= 3 else None


class MastodonWriter(Writer):
    """Statuses within the instance's limit, counted as the server counts them.

    The limit is the configured one, else the instance's once the client has
    learned it (``learn``), else 500.
    """

    kind: ClassVar[str] = "mastodon"
    limit: int

    def __init__(
        self,
        *,
        name: str,
        language: str | None = None,
        template: str | None = None,
        visibility: str = "public",
        spoiler_text: str = "",
        utm: bool = False,
        images: str = "with_alt",
        limit: int | None = None,
    ) -> None:
        if language is not None and not (
            isinstance(language, str) and _LANGUAGE.fullmatch(language)
        ):
            raise ValueError(f"language: expected a code such as fr or pt-BR, got {language!r}")
        super().__init__(name=name, language=language, template=template, utm=utm)
        self.visibility = choice(visibility, "visibility", VISIBILITIES)
        if not isinstance(spoiler_text, str):
            raise ValueError("spoiler_text: expected a text")
        self.spoiler_text = spoiler_text.strip()
        self.images = image_policy(images)
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
            raise ValueError(f"limit: expected a number of characters, got {limit!r}")
        if limit is not None and limit < 100:
            raise ValueError("limit: must be at least 100 characters")
        self.configured_limit = limit
        self.instance_limit: int | None = None
        self.url_chars = URL_CHARS
        self.limit = limit or DEFAULT_LIMIT

    def learn(self, limit: int, url_chars: int) -> None:
        """The instance's own limit and URL length, once known."""
        self.instance_limit, self.url_chars = limit, url_chars
        self.limit = self.configured_limit or limit

    def length(self, text: str, link: str) -> int:
        return status_length(
            text, spoiler_text=self.spoiler_text, link=link, url_chars=self.url_chars
        )

    def counter(self, item: Item, spec: PostSpec) -> Callable[[str], int]:
        return lambda text: self.length(text, item.link)

    def image(self, image: Image | None) -> Image | None:
        return with_policy(image, self.images)

    def finish(self, post: Post, spec: PostSpec) -> Post:
        extra = {"visibility": self.visibility}
        if self.spoiler_text:
            extra["spoiler_text"] = self.spoiler_text
        return extended(post, **extra)


class MastodonPublisher(PublisherBase):
    """One Mastodon account; see the module documentation for its options."""

    kind: ClassVar[str] = "mastodon"
    writer_type: ClassVar[type[Writer]] = MastodonWriter
    writer: MastodonWriter

    def __init__(
        self,
        *,
        name: str,
        api_url: str,
        access_token: str,
        timeout: str = "20s",
        language: str | None = None,
        template: str | None = None,
        visibility: str = "public",
        spoiler_text: str = "",
        utm: bool = False,
        images: str = "with_alt",
        limit: int | None = None,
    ) -> None:
        from mastodon import Mastodon

        self.writer = MastodonWriter(
            name=name,
            language=language,
            template=template,
            visibility=visibility,
            spoiler_text=spoiler_text,
            utm=utm,
            images=images,
            limit=limit,
        )
        self.name = name
        self.api_url = base_url(api_url)
        self._token = secret(access_token, "access_token")
        self.timeout = seconds(timeout)
        self.visibility = self.writer.visibility
        self.spoiler_text = self.writer.spoiler_text
        self.images = self.writer.images
        self._configured_limit = limit
        self._limit_asked_at: float | None = None
        self._account_id: str | None = None
        self._state: AccountStore | None = None
        self._lock = threading.RLock()
        # No request here: the version is assumed, and rate limits raise instead of sleeping.
        self._api = Mastodon(
            access_token=self._token,
            api_base_url=self.api_url,
            request_timeout=self.timeout,
            ratelimit_method="throw",
            version_check_mode="created",
            mastodon_version=_ASSUMED_VERSION,
            user_agent=USER_AGENT,
        )

    def __repr__(self) -> str:
        return f"MastodonPublisher(name={self.name!r}, api_url={self.api_url!r})"

    # -- state -----------------------------------------------------------------

    def attach_state(self, state: AccountStore) -> None:
        """Remember the instance's limit across restarts in the account's state."""
        self._state = state
        try:
            saved = json.loads(state.get(_STATE_KEY) or "null")
        except ValueError:
            saved = None
        if isinstance(saved, dict) and saved.get("api_url") == self.api_url:
            limit, url_chars = saved.get("max_characters"), saved.get("url_chars")
            if isinstance(limit, int) and isinstance(url_chars, int):
                self.writer.learn(limit, url_chars)

    @property
    def limit(self) -> int:
        """The limit ``render`` writes for: configured, else the instance's, else 500."""
        return self.writer.limit

    # -- the protocol ----------------------------------------------------------

    def publish(self, post: Post, *, key: str) -> Receipt:
        with self._lock:
            self._learn_limit()
            counted = self.writer.length(post.text, post.link)
            if counted > self.limit:
                raise UnavailableError(
                    self.name,
                    f"the post counts {counted} characters but {self._host} allows {self.limit}; "
                    "it will be written again for that limit",
                    maybe_posted=False,
                )
            media_ids = []
            if post.image is not None:
                media_id = self._upload(post.image)
                if media_id is not None:
                    media_ids.append(media_id)
            status = self._call(
                "post",
                lambda: self._api.status_post(
                    post.text,
                    visibility=self.visibility,
                    language=mastodon_language(post.language),
                    spoiler_text=self.spoiler_text or None,
                    media_ids=media_ids or None,
                    idempotency_key=key,
                ),
            )
            return _receipt(status)

    def find(self, post: Post, *, key: str) -> Receipt | None:
        """The account's recent status linking to ``post.link``, or None.

        Raises PublishError when the account cannot be read (it cannot tell).
        """
        doing = "read the account's recent posts"
        with self._lock:
            if self._account_id is None:
                me = self._call(doing, self._api.account_verify_credentials)
                self._account_id = str(me["id"])
            account_id = self._account_id
            statuses = self._call(
                doing,
                lambda: self._api.account_statuses(
                    account_id, exclude_reblogs=True, limit=RECENT_STATUSES
                ),
            )
            for status in statuses:
                if _links_to(status, post.link):
                    return _receipt(status)
            return None

    def check(self) -> AccountInfo:
        with self._lock:
            me = self._call("verify the credentials", self._api.account_verify_credentials)
            self._account_id = str(me["id"])
            domain = self._learn_limit(force=True) or self._host
            details = {
                "limit": str(self.limit),
                "limit_from": "configuration" if self._configured_limit else "instance",
                "visibility": self.visibility,
                "images": self.images,
            }
            if me.get("url"):
                details["profile"] = str(me["url"])
            return AccountInfo(name=f"@{me['username']}@{domain}", details=details)

    def close(self) -> None:
        self._api.session.close()

    # -- taking back -----------------------------------------------------------

    can_delete: ClassVar[bool] = True

    def delete(self, sent: SentPost) -> Removal:
        """``DELETE /api/v1/statuses/:id``; a status the instance no longer has is gone."""
        from mastodon import MastodonError, MastodonNotFoundError

        with self._lock:
            try:
                self._api.status_delete(sent.remote_id)
            except MastodonNotFoundError:
                return Removal.GONE
            except MastodonError as e:
                raise self._error(e, "delete the post") from e
        return Removal.DELETED

    can_edit: ClassVar[bool] = True

    def edit(self, sent: SentPost, text: str) -> None:
        """``PUT /api/v1/statuses/:id`` with the new text: the status keeps its boosts,
        replies and favourites, and the instance shows it as edited."""
        from mastodon import MastodonError

        with self._lock:
            try:
                self._api.status_update(sent.remote_id, text)
            except MastodonError as e:
                raise self._error(e, "edit the post") from e

    # -- helpers ---------------------------------------------------------------

    @property
    def _host(self) -> str:
        return urlsplit(self.api_url).hostname or self.api_url

    def _learn_limit(self, *, force: bool = False) -> str | None:
        """Ask the instance its limit unless known; returns its domain when it answered."""
        if self._configured_limit is not None and not force:
            return None
        now = time.monotonic()
        asked = self._limit_asked_at
        known = self.writer.instance_limit is not None
        # Known already, or asked in vain not long ago.
        if not force and asked is not None and (known or now - asked < _LIMIT_RETRY_AFTER):
            return None
        self._limit_asked_at = now
        try:
            instance = self._call("read the instance's limits", self._api.instance_v2)
        except PublishError as error:
            logs.event(
                "instance-limit-unknown",
                level=logging.WARNING,
                account=self.name,
                error=error.message,
                assumed=self.limit,
            )
            return None
        statuses = _get(instance, "configuration", "statuses")
        limit = _get(statuses, "max_characters")
        url_chars = _get(statuses, "characters_reserved_per_url")
        if isinstance(limit, int) and limit > 0:
            url_chars = url_chars if isinstance(url_chars, int) else URL_CHARS
            self.writer.learn(limit, url_chars)
            if self._state is not None:
                self._state.set(
                    _STATE_KEY,
                    json.dumps(
                        {"api_url": self.api_url, "max_characters": limit, "url_chars": url_chars}
                    ),
                )
        domain = _get(instance, "domain")
        return str(domain) if domain else None

    def _upload(self, image: Image) -> str | None:
        """The media id of the uploaded image, or None (logged) when it cannot be attached."""
        try:
            picture = download_image(
                image.url,
                max_bytes=MAX_IMAGE_BYTES,
                timeout=self.timeout,
                allow_networks=self.allow_networks,
            )
        except MediaError as e:
            self._skip_image(image, str(e))
            return None
        alt = (image.alt or "").strip()
        if len(alt) > MAX_DESCRIPTION:
            alt = shorten(alt, lambda s: len(s) <= MAX_DESCRIPTION)

        def upload() -> Any:
            media = self._api.media_post(
                io.BytesIO(picture.data),
                mime_type=picture.content_type,
                description=alt or None,
                file_name="image." + picture.content_type.split("/")[1],
            )
            for _ in range(_MEDIA_POLLS):  # images are ready at once; bounded just in case
                if media.get("url"):
                    break
                time.sleep(1.0)
                media = self._api.media(media["id"])
            return media

        try:
            media = self._call("upload the image", upload)
        except AuthError:
            raise
        except PublishError as error:
            self._skip_image(image, error.message)
            return None
        if not media.get("url"):
            self._skip_image(image, "the instance is still processing it")
            return None
        return str(media["id"])

    def _skip_image(self, image: Image, reason: str) -> None:
        logs.event(
            "image-skipped",
            level=logging.WARNING,
            account=self.name,
            image=image.url,
            reason=reason,
        )

    def _call(self, doing: str, call: Callable[[], T]) -> T:
        """``call()``, a Mastodon.py error translated into the error tree."""
        from mastodon import MastodonError

        try:
            return call()
        except MastodonError as e:
            raise self._error(e, doing) from e

    def _error(self, e: MastodonError, doing: str) -> PublishError:
        """The error tree's reading of a Mastodon.py error; never shows the token."""
        from mastodon import MastodonAPIError, MastodonNetworkError, MastodonRatelimitError

        host = self._host
        if isinstance(e, MastodonRatelimitError):
            reset = self._api.ratelimit_reset
            retry_after = max(float(reset) - time.time(), 0.0) if reset else None
            return RateLimitedError(
                self.name,
                f"{host} asks to slow down (rate limit) while trying to {doing}",
                retry_after=retry_after,
            )
        if isinstance(e, MastodonNetworkError):
            # Mastodon.py raises this while handling the requests exception.
            cause = e.__cause__ or e.__context__ or e
            return _http.transport_error(
                self.name, cause, what=f"{host} could not be reached to {doing}"
            )
        status, said = _status_of(e) if isinstance(e, MastodonAPIError) else (None, str(e))
        said = self._scrub(said)
        if status is None:
            return UnavailableError(
                self.name, f"{host} failed to {doing}: {said or type(e).__name__}"
            )
        if status in (404, 410):
            # The instance or the account is not there: a configuration fault.
            return AuthError(
                self.name,
                f"{host} answered HTTP {status} while trying to {doing}: check api_url "
                f"({self.api_url}) and that the account still exists",
            )
        detail = f"HTTP {status}{': ' + said if said else ''}"
        message = {
            401: f"{host} refused the access token ({detail}); create a new one with the "
            f"scopes {SCOPES}",
            403: f"{host} forbids this ({detail}) while trying to {doing}; the token needs "
            f"the scopes {SCOPES}",
            429: f"{host} asks to slow down (HTTP 429)",
        }.get(status, f"{host} failed to {doing} ({detail})" if status >= 500 else "")
        if status == 422:
            message = f"{host} refused to {doing}: {said or 'HTTP 422'}"
        return _http.status_error(
            self.name, status, message or f"{host} refused to {doing} ({detail})"
        )

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "[redacted]") if self._token else text


def _receipt(status: Mapping[str, Any]) -> Receipt:
    url = status.get("url") or status.get("uri")
    return Receipt(remote_id=str(status["id"]), url=str(url) if url else None)


def _get(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _status_of(e: MastodonAPIError) -> tuple[int | None, str]:
    """(HTTP status, the server's own message) of a Mastodon.py API error."""
    args = e.args
    status = args[1] if len(args) > 1 and isinstance(args[1], int) else None
    said = args[3] if len(args) > 3 and isinstance(args[3], str) else ""
    if status is None and args:
        said = str(args[0])
    return status, said[:300]


def _same_url(a: str, b: str) -> bool:
    def norm(url: str) -> str:
        parts = urlsplit(unquote(url.strip()))
        return parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower()).geturl()

    return norm(a) == norm(b)


def _links_to(status: Mapping[str, Any], link: str) -> bool:
    """Whether a status (HTML content, link card) links to ``link``."""
    content = str(status.get("content") or "")
    if any(_same_url(html.unescape(href), link) for href in _HREF.findall(content)):
        return True
    card = status.get("card")
    return isinstance(card, Mapping) and _same_url(str(card.get("url") or ""), link)
