"""Bluesky, or any AT Protocol PDS, through the atproto SDK.

The account block::

    ville_bluesky:
      type: bluesky
      handle: ville.bsky.social           # or the institution's domain handle (required)
      app_password: ${BLUESKY_APP_PASSWORD}   # or app_password_file: (required; secret)
      api_url: https://bsky.social        # a self-hosted PDS, or the entryway
      timeout: 20s
      language: fr                        # when the item does not say its language
      template: "{title}\\n\\n{link}"     # instead of the feed's template
      utm: false                          # campaign tags on the link
      card: true                          # a link card (title, summary, thumbnail)
      images: with_alt                    # with_alt | always | never

Text: at most 300 graphemes and 3000 UTF-8 bytes. The post's link is a
rich-text link facet (the server does not detect links), other URLs and
``#tags`` get facets as the Bluesky app gives them, all at UTF-8 byte
offsets. ``langs`` is the item's language. With ``card`` the post embeds an
``app.bsky.embed.external`` card whose thumbnail is the item's image (any, alt
text or not: a card thumbnail is decorative), shrunk under 1,000,000 bytes;
without ``card``, the image is embedded with its alt text, according to
``images``. Blobs are uploaded by ``publish``: ``render`` stays pure.

Exactly once: the record key is a TID derived from the delivery's key (see
``record_key``), fixed before the first attempt. ``find`` asks
``com.atproto.repo.getRecord`` for it; ``publish`` does too when creating
failed, since creating an existing key is refused (HTTP 500 from the PDS).

The session (``createSession`` is limited to 30 per 5 minutes and 300 a day)
is kept in the account's state and reused across restarts; a session the
server no longer accepts is replaced by one fresh login. It is never logged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Final, TypeVar
from urllib.parse import urlsplit

from autoposter import logs
from autoposter.errors import (
    AuthError,
    PublishError,
    RateLimitedError,
    RejectedError,
    UnavailableError,
)
from autoposter.publishers import _http
from autoposter.publishers._base import (
    PublisherBase,
    Writer,
    extended,
    image_policy,
    with_policy,
)
from autoposter.publishers._media import MediaError, base_url, download_image, flag, seconds, secret
from autoposter.publishers._text import fit_image, graphemes, utf8_length
from autoposter.render import link_label, shorten
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
    from atproto import Session, SessionEvent  # type: ignore[import-untyped]
    from atproto_client.exceptions import RequestErrorBase  # type: ignore[import-untyped]

__all__ = ["BlueskyPublisher", "BlueskyWriter", "facets", "post_length", "record_key"]

MAX_GRAPHEMES: Final = 300
MAX_BYTES: Final = 3000
MAX_BLOB_BYTES: Final = 1_000_000  # app.bsky.embed.external thumb and embed.images image
MAX_DOWNLOAD_BYTES: Final = 10_000_000  # an image bigger than this is not even shrunk
MAX_CARD_GRAPHEMES: Final = 300
MAX_ALT_GRAPHEMES: Final = 2000
COLLECTION: Final = "app.bsky.feed.post"
WEB: Final = "https://bsky.app"

_S32: Final = "234567abcdefghijklmnopqrstuvwxyz"
_TID_EPOCH_US: Final = 1_672_531_200_000_000  # 2023-01-01T00:00:00Z
_TID_SPAN_US: Final = 1 << 46  # about 2.2 years: every derived TID lies in the past
_STATE_KEY: Final = "session"
_SESSION_ERRORS: Final = frozenset(
    {"ExpiredToken", "InvalidToken", "AuthenticationRequired", "AuthRequired", "AuthMissing"}
)
# The account itself cannot post (a moderation action, or its owner deactivated it):
# nothing about one post, so the account waits for a person.
_ACCOUNT_STATES: Final = frozenset(
    {
        "AccountTakedown",
        "AccountDeactivated",
        "AccountSuspended",
        "RepoTakendown",
        "RepoSuspended",
        "RepoDeactivated",
    }
)
_NOT_SERVED: Final = frozenset({"MethodNotImplemented", "XRPCNotSupported"})
_NOT_FOUND: Final = frozenset({"RecordNotFound"})
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")
_HANDLE = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]*[a-z0-9])?")
_APP_PASSWORD = re.compile(r"[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}")

T = TypeVar("T")


def post_length(text: str) -> int:
    """A length that is at most 300 exactly when ``text`` has at most 300 graphemes
    and at most 3000 UTF-8 bytes: what ``render_text`` needs to respect both."""
    return max(graphemes(text), -(-utf8_length(text) * MAX_GRAPHEMES // MAX_BYTES))


def record_key(key: str) -> str:
    """The record key (a TID) of the post made with idempotency key ``key``.

    A TID is 13 base32-sortable characters: 53 bits of microseconds since
    1970, 10 bits of clock id. Both come from SHA-256 of ``key``; the time is
    kept between 2023 and early 2025, so no key ever looks like a future one.
    The same key always gives the same TID; two keys, a different one (a
    collision among 2^56 values per account).
    """
    digest = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")
    micros = _TID_EPOCH_US + (digest >> 10) % _TID_SPAN_US
    value = (micros << 10) | (digest & 0x3FF)
    return "".join(_S32[(value >> (5 * i)) & 31] for i in range(12, -1, -1))


def facets(text: str, link: str, shown: str | None = None) -> list[Any]:
    """Rich-text facets of ``text``: ``link`` wherever it appears (or ``shown``, the
    shortened form the text holds when the link is too long, pointing to the whole
    ``link``), exactly; other links and ``#tags`` as the Bluesky app detects them
    (none overlapping)."""
    from atproto import models
    from atproto_client.utils.facet_detection import detect_facets  # type: ignore[import-untyped]

    own: list[Any] = []
    written = shown or link
    start = text.find(written) if written else -1
    while start >= 0:
        byte_start = utf8_length(text[:start])
        own.append(
            models.AppBskyRichtextFacet.Main(
                features=[models.AppBskyRichtextFacet.Link(uri=link)],
                index=models.AppBskyRichtextFacet.ByteSlice(
                    byte_start=byte_start, byte_end=byte_start + utf8_length(written)
                ),
            )
        )
        start = text.find(written, start + len(written))
    taken = [(f.index.byte_start, f.index.byte_end) for f in own]
    found = [
        f
        for f in detect_facets(text)
        if not any(f.index.byte_start < end and start < f.index.byte_end for start, end in taken)
    ]
    return sorted(own + found, key=lambda f: f.index.byte_start)


class BlueskyWriter(Writer):
    """Posts of at most 300 graphemes and 3000 bytes, with a link card or an image."""

    kind: ClassVar[str] = "bluesky"
    limit = MAX_GRAPHEMES

    def __init__(
        self,
        *,
        name: str,
        language: str | None = None,
        template: str | None = None,
        utm: bool = False,
        card: bool = True,
        images: str = "with_alt",
    ) -> None:
        if language is not None and not (
            isinstance(language, str) and _LANGUAGE.fullmatch(language.replace("_", "-"))
        ):
            raise ValueError(f"language: expected a code such as fr or pt-BR, got {language!r}")
        super().__init__(name=name, language=language, template=template, utm=utm)
        self.card = flag(card, "card")
        self.images = image_policy(images)

    def counter(self, item: Item, spec: PostSpec) -> Callable[[str], int]:
        return post_length

    def link_shown(self, link: str) -> str | None:
        # As the Bluesky app shows a long link; the facet (and the card) keep it whole.
        return link_label(link)

    def image(self, image: Image | None) -> Image | None:
        if self.card and self.images != "never":
            return image  # a card's thumbnail needs no alt text: the card's title says it
        return with_policy(image, self.images)

    def finish(self, post: Post, spec: PostSpec) -> Post:
        extra = {
            "length": f"{graphemes(post.text)}/{MAX_GRAPHEMES} graphemes, "
            f"{utf8_length(post.text)}/{MAX_BYTES} bytes",
            "embed": "link card" if self.card else ("image" if post.image else "none"),
        }
        if self.card:
            extra["card"] = post.title or post.link
        return extended(post, **extra)


class BlueskyPublisher(PublisherBase):
    """One Bluesky account; see the module documentation for its options."""

    kind: ClassVar[str] = "bluesky"
    writer_type: ClassVar[type[Writer]] = BlueskyWriter
    writer: BlueskyWriter

    def __init__(
        self,
        *,
        name: str,
        handle: str,
        app_password: str,
        api_url: str = "https://bsky.social",
        timeout: str = "20s",
        language: str | None = None,
        template: str | None = None,
        utm: bool = False,
        card: bool = True,
        images: str = "with_alt",
    ) -> None:
        from atproto import Client, Request

        self.writer = BlueskyWriter(
            name=name, language=language, template=template, utm=utm, card=card, images=images
        )
        self.name = name
        if not isinstance(handle, str):
            raise ValueError("handle: expected a handle such as ville.bsky.social")
        self.handle = handle.strip().lstrip("@").lower()
        if not (_HANDLE.fullmatch(self.handle) or self.handle.startswith("did:")):
            raise ValueError(f"handle: expected a handle such as ville.bsky.social, got {handle!r}")
        self._password = secret(app_password, "app_password")
        self.api_url = base_url(api_url)
        self.timeout = seconds(timeout)
        self.card = self.writer.card
        self.images = self.writer.images
        self._state: AccountStore | None = None
        self._did: str | None = None
        self._lock = threading.RLock()
        self._api = Client(base_url=self.api_url, request=Request(timeout=self.timeout))
        self._api.on_session_change(self._session_changed)

    def __repr__(self) -> str:
        return f"BlueskyPublisher(name={self.name!r}, handle={self.handle!r})"

    def attach_state(self, state: AccountStore) -> None:
        """Keep the session in the account's state, so a restart needs no new login."""
        self._state = state

    # -- the protocol ----------------------------------------------------------

    def publish(self, post: Post, *, key: str) -> Receipt:
        from atproto import models

        rkey = record_key(key)
        with self._lock:
            did = self._logged_in()
            record = models.AppBskyFeedPost.Record(
                text=post.text,
                created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                langs=_langs(post.language),
                facets=facets(post.text, post.link, post.extra.get("link_text")) or None,
                embed=self._embed(post),
            )
            data = models.ComAtprotoRepoCreateRecord.Data(
                repo=did, collection=COLLECTION, rkey=rkey, record=record, validate_=True
            )
            try:
                created = self._call("post", lambda: self._api.com.atproto.repo.create_record(data))
            except (UnavailableError, RejectedError):
                # An earlier attempt may have made it (creating an existing key is
                # refused), or this one did before the answer was lost: ask.
                existing = self._existing(rkey)
                if existing is None:
                    raise
                return existing
            return self._receipt(str(created.uri), rkey)

    def find(self, post: Post, *, key: str) -> Receipt | None:
        """The post made with ``key``, or None when there is none; raises PublishError
        when the server cannot be asked."""
        with self._lock:
            self._logged_in()
            return self._get(record_key(key))

    def check(self) -> AccountInfo:
        with self._lock:
            self._logged_in()
            session = self._call(
                "verify the session", lambda: self._api.com.atproto.server.get_session()
            )
            details = {
                "did": str(session.did),
                "pds": str(getattr(self._api, "_base_url", self.api_url)).removesuffix("/xrpc"),
                "limit": f"{MAX_GRAPHEMES} graphemes, {MAX_BYTES} bytes",
                "card": "yes" if self.card else "no",
                "images": self.images,
            }
            if not _APP_PASSWORD.fullmatch(self._password):
                details["warning"] = (
                    "app_password does not look like an app password (xxxx-xxxx-xxxx-xxxx): "
                    "create one in Settings > Privacy and security > App passwords"
                )
            return AccountInfo(name=f"@{session.handle}", details=details)

    def close(self) -> None:
        self._api.request.close()

    # -- taking back -----------------------------------------------------------

    can_delete: ClassVar[bool] = True

    def delete(self, sent: SentPost) -> Removal:
        """``com.atproto.repo.deleteRecord`` with the post's record key. The PDS answers a
        deletion of a missing record as a success, so ``getRecord`` first tells "gone"."""
        from atproto import models

        rkey = sent.remote_id.rsplit("/", 1)[-1]
        with self._lock:
            did = self._logged_in()
            if self._get(rkey) is None:
                return Removal.GONE
            data = models.ComAtprotoRepoDeleteRecord.Data(
                repo=did, collection=COLLECTION, rkey=rkey
            )
            self._call("delete the post", lambda: self._api.com.atproto.repo.delete_record(data))
        return Removal.DELETED

    # -- session ---------------------------------------------------------------

    def _session_changed(self, event: SessionEvent, session: Session) -> None:
        from atproto import SessionEvent

        self._did = session.did
        if self._state is not None and event in (SessionEvent.CREATE, SessionEvent.REFRESH):
            self._state.set(
                _STATE_KEY,
                json.dumps(
                    {"api_url": self.api_url, "handle": self.handle, "session": session.encode()}
                ),
            )

    def _logged_in(self) -> str:
        """The account's DID, logging in first when there is no session yet."""
        from atproto import Session
        from atproto_core.exceptions import AtProtocolError  # type: ignore[import-untyped]

        if self._did is not None:
            return self._did
        stored = self._stored_session()
        if stored is not None:
            try:
                session = Session.decode(stored)
                refresh_until = session.refresh_jwt_payload.exp
                if session.access_jwt_payload.exp is None or refresh_until is None:
                    raise ValueError("a token without an expiry")
                if refresh_until > datetime.now(UTC).timestamp() + 60:
                    self._api.login(session_string=stored, fetch_bsky_profile=False)  # no request
                    if self._did is not None:
                        return self._did
            except (AtProtocolError, ValueError, TypeError):
                pass  # unreadable: log in afresh
            self._forget_session()
        return self._login()

    def _stored_session(self) -> str | None:
        if self._state is None:
            return None
        try:
            saved = json.loads(self._state.get(_STATE_KEY) or "null")
        except ValueError:
            return None
        if (
            isinstance(saved, dict)
            and saved.get("api_url") == self.api_url
            and saved.get("handle") == self.handle
            and isinstance(saved.get("session"), str)
        ):
            return str(saved["session"])
        return None

    def _login(self) -> str:
        import httpx
        from atproto_core.exceptions import AtProtocolError

        self._did = None
        self._api.update_base_url(self.api_url)
        try:
            self._api.login(self.handle, self._password, fetch_bsky_profile=False)
        except (AtProtocolError, httpx.HTTPError) as e:
            error = self._error(e, "log in")
            if isinstance(error, RejectedError):  # the login itself was refused
                raise AuthError(self.name, error.message) from e
            raise error from e
        if self._did is None:
            raise UnavailableError(self.name, f"{self._host} answered the login without a DID")
        logs.event("logged-in", account=self.name, handle=self.handle)
        return self._did

    def _forget_session(self) -> None:
        self._did = None
        if self._state is not None:
            self._state.set(_STATE_KEY, None)

    def _call(self, doing: str, call: Callable[[], T]) -> T:
        """``call()`` with errors translated; a session the server no longer accepts
        (expired, revoked) is replaced by one fresh login, and the call made again."""
        import httpx
        from atproto_core.exceptions import AtProtocolError

        try:
            return call()
        except (AtProtocolError, httpx.HTTPError) as e:
            if not _session_refused(e):
                raise self._error(e, doing) from e
        self._forget_session()
        self._login()
        try:
            return call()
        except (AtProtocolError, httpx.HTTPError) as e:
            raise self._error(e, doing) from e

    # -- records and blobs -----------------------------------------------------

    def _get(self, rkey: str) -> Receipt | None:
        from atproto import models
        from atproto_client.exceptions import RequestErrorBase

        did = self._logged_in()
        params = models.ComAtprotoRepoGetRecord.Params(repo=did, collection=COLLECTION, rkey=rkey)
        try:
            found = self._call(
                "look for the post", lambda: self._api.com.atproto.repo.get_record(params)
            )
        except PublishError as error:
            cause = error.__cause__
            if isinstance(cause, RequestErrorBase) and _error_name(cause) in _NOT_FOUND:
                return None
            raise
        return self._receipt(str(found.uri), rkey)

    def _existing(self, rkey: str) -> Receipt | None:
        """The post with this key, or None when there is none or the server cannot say."""
        try:
            return self._get(rkey)
        except PublishError:
            return None

    def _receipt(self, uri: str, rkey: str) -> Receipt:
        # The DID, not the handle: the URL keeps working when the handle changes.
        return Receipt(remote_id=uri, url=f"{WEB}/profile/{self._did}/post/{rkey}")

    def _embed(self, post: Post) -> Any:
        from atproto import models

        blob = self._upload(post.image) if post.image is not None else None
        if self.card:
            summary = shorten(post.summary, lambda s: graphemes(s) <= MAX_CARD_GRAPHEMES)
            return models.AppBskyEmbedExternal.Main(
                external=models.AppBskyEmbedExternal.External(
                    uri=post.link,
                    title=post.title or post.link,
                    description=summary,
                    thumb=blob[0] if blob else None,
                )
            )
        if blob is None or post.image is None:
            return None
        alt = (post.image.alt or "").strip()
        alt = shorten(alt, lambda s: graphemes(s) <= MAX_ALT_GRAPHEMES)
        ref, width, height = blob
        return models.AppBskyEmbedImages.Main(
            images=[
                models.AppBskyEmbedImages.Image(
                    alt=alt,
                    image=ref,
                    aspect_ratio=models.AppBskyEmbedDefs.AspectRatio(width=width, height=height),
                )
            ]
        )

    def _upload(self, image: Image) -> tuple[Any, int, int] | None:
        """(blob ref, width, height) of the uploaded image, or None (logged)."""
        try:
            downloaded = download_image(
                image.url,
                max_bytes=MAX_DOWNLOAD_BYTES,
                timeout=self.timeout,
                allow_networks=self.allow_networks,
            )
            fitted = fit_image(downloaded.data, downloaded.content_type, max_bytes=MAX_BLOB_BYTES)
        except MediaError as e:
            self._skip_image(image, str(e))
            return None
        try:
            uploaded = self._call(
                "upload the image",
                lambda: self._api.com.atproto.repo.upload_blob(
                    fitted.data, headers={"Content-Type": fitted.mime}
                ),
            )
        except AuthError:
            raise
        except PublishError as error:
            self._skip_image(image, error.message)
            return None
        return uploaded.blob, fitted.width, fitted.height

    def _skip_image(self, image: Image, reason: str) -> None:
        logs.event(
            "image-skipped",
            level=logging.WARNING,
            account=self.name,
            image=image.url,
            reason=reason,
        )

    # -- errors ----------------------------------------------------------------

    @property
    def _host(self) -> str:
        return urlsplit(self.api_url).hostname or self.api_url

    def _error(self, e: Exception, doing: str) -> PublishError:
        """The error tree's reading of an SDK or transport error; never shows a secret."""
        import httpx
        from atproto_client.exceptions import (
            LoginRequiredError,
            RateLimitExceededError,
            RequestErrorBase,
        )

        host = self._host
        if isinstance(e, httpx.HTTPError):
            return _http.transport_error(
                self.name, e, what=f"{host} could not be reached to {doing}"
            )
        if isinstance(e, LoginRequiredError):
            return AuthError(self.name, f"not logged in to {host} (to {doing})")
        if not isinstance(e, RequestErrorBase):
            return UnavailableError(
                self.name, self._scrub(f"{host} failed to {doing}: {type(e).__name__}: {e}")
            )
        response = e.response
        if response is None:  # a transport failure: timeout, connection refused or dropped
            cause = e.__cause__ or e.__context__ or e
            return _http.transport_error(
                self.name, cause, what=f"{host} could not be reached to {doing}"
            )
        status = response.status_code
        name = _error_name(e)
        said = self._scrub(_error_message(e))
        detail = f"{name}: {said}" if said else name or f"HTTP {status}"
        if isinstance(e, RateLimitExceededError) or status == 429:
            return RateLimitedError(
                self.name,
                f"{host} asks to slow down (rate limit) while trying to {doing}",
                retry_after=_retry_after(e),
            )
        if name == "AuthFactorTokenRequired":
            return AuthError(
                self.name,
                f"{host} asks for an emailed code to log in {self.handle}: use an app password "
                "(Settings > Privacy and security > App passwords)",
            )
        if name in _ACCOUNT_STATES:
            return AuthError(
                self.name,
                f"{host} says the account {self.handle} cannot post ({detail}): it is taken "
                "down, suspended or deactivated; settle it with the host, then resume the account",
            )
        if status == 403:
            return AuthError(
                self.name,
                f"{host} forbids {self.handle} to {doing} ({detail}); use an app password "
                "with the right to post",
            )
        if status == 401 or name in _SESSION_ERRORS:
            return AuthError(
                self.name,
                f"{host} refused the login of {self.handle} ({detail}); check the handle and "
                "the app password",
            )
        if status == 404 or name in _NOT_SERVED:
            return AuthError(
                self.name,
                f"{host} does not serve the AT Protocol here (HTTP {status}) while trying to "
                f"{doing}: check api_url ({self.api_url})",
            )
        if status in (409, 413):  # a conflict or a busy PDS: worth another try
            return UnavailableError(self.name, f"{host} failed to {doing} ({detail})")
        if status == 408 or status >= 500:
            return _http.status_error(self.name, status, f"{host} failed to {doing} ({detail})")
        return _http.status_error(self.name, status, f"{host} refused to {doing} ({detail})")

    def _scrub(self, text: str) -> str:
        return text.replace(self._password, "[redacted]")


def _langs(tag: str | None) -> list[str] | None:
    if not tag:
        return None
    normalized = tag.strip().replace("_", "-")
    return [normalized] if _LANGUAGE.fullmatch(normalized) else None


def _error_name(e: RequestErrorBase) -> str:
    content = e.response.content if e.response is not None else None
    return str(getattr(content, "error", "") or "")


def _error_message(e: RequestErrorBase) -> str:
    content = e.response.content if e.response is not None else None
    return str(getattr(content, "message", "") or "")[:300]


def _session_refused(e: Exception) -> bool:
    """Whether the server refused the session itself (not the request)."""
    from atproto_client.exceptions import BadRequestError, LoginRequiredError, UnauthorizedError
    from atproto_server.exceptions import InvalidTokenError  # type: ignore[import-untyped]

    if isinstance(e, LoginRequiredError | InvalidTokenError):
        return True
    if not isinstance(e, UnauthorizedError | BadRequestError) or e.response is None:
        return False
    name = _error_name(e)
    if name in _SESSION_ERRORS:
        return True
    # Only a 401 says the session is refused; a 403 refuses the account what it asked.
    return (
        isinstance(e, UnauthorizedError)
        and e.response.status_code == 401
        and name not in _ACCOUNT_STATES
        and name != "AuthFactorTokenRequired"
    )


def _retry_after(e: RequestErrorBase) -> float | None:
    from atproto_client.exceptions import RateLimitExceededError

    if isinstance(e, RateLimitExceededError):
        if e.retry_after is not None:
            return float(e.retry_after)
        if e.reset_at is not None:
            return max(float((e.reset_at - datetime.now(UTC)).total_seconds()), 0.0)
    return None
