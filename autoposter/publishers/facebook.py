"""Facebook Page: a link post per item through facebook-sdk's ``GraphAPI``, with a Page token.

facebook-sdk 3.1 (2018) needs three workarounds, all kept in this file:

- it refuses current Graph versions in its constructor, so the version is set
  on the instance afterwards (``graph_version``, default v21.0);
- it builds every URL from the module global ``facebook.FACEBOOK_GRAPH_URL``.
  That global is never touched here (it is process-wide): the client's
  ``requests`` session rewrites those URLs to ``api_url`` instead, and gives
  every request a timeout;
- it does not look at HTTP statuses and fails with ``KeyError`` on a response
  without a content type: the session looks first, and an HTTP error becomes
  ``_HttpError`` with the Graph error the body carries.

The Graph API has no idempotency key. ``find`` reads the Page's 25 latest
posts and looks for the item's link among their attachments (the ``link``
field of page posts was removed in Graph v3.3) and in their message. Error
506 (duplicate status) is read as "already posted", as X's duplicate answer.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from autoposter import logs
from autoposter.errors import (
    AuthError,
    PublishError,
    RateLimitedError,
    RejectedError,
    UnavailableError,
)
from autoposter.publishers import _http, _media
from autoposter.publishers._base import PublisherBase, Writer, extended
from autoposter.types import AccountInfo, Post, PostSpec, Receipt, Removal, SentPost

if TYPE_CHECKING:
    import requests

API_URL = "https://graph.facebook.com"
GRAPH_VERSION = "v21.0"
LIMIT = 63_206
FIND_COUNT = 25

# Graph error codes that concern the Page, the token or the app, not the post: the
# account is paused and its posts wait (Graph API "Handling Errors", checked 2026-12).
TOKEN_CODES = {102, 190}  # the token expired, was revoked or is invalid
PERMISSION_CODES = {3, 10} | set(range(200, 300))  # a permission or a page role is missing
BLOCKED_CODE = 368  # the Page is blocked from posting for a while (policy)
NOT_FOUND_CODE = 100  # "does not exist" (also the code of NO_PAGE)
NO_PAGE = (100, 33)  # (code, subcode): the page_id is unknown or the token cannot see it
RATE_CODES = {4, 17, 32, 613, 80001, 341}
TRANSIENT_CODES = {1, 2}
DUPLICATE_CODE = 506

_T = TypeVar("_T")


class _HttpError(Exception):
    """An HTTP error status from the Graph API, with the error object its body carried."""

    def __init__(self, status: int, error: Mapping[str, Any], headers: Mapping[str, str]) -> None:
        super().__init__(status)
        self.status = status
        self.error = error
        self.headers = headers


def _graph_session(base: str, timeout: float) -> requests.Session:
    """A requests session that sends what facebook-sdk meant for ``FACEBOOK_GRAPH_URL``
    to ``base``, with a timeout, and raises ``_HttpError`` on an error status before
    facebook-sdk reads the body. (Defined here: requests is imported by the client only.)"""
    import facebook
    import requests

    class GraphSession(requests.Session):
        def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
            origin = facebook.FACEBOOK_GRAPH_URL  # read at call time, as facebook-sdk does
            if isinstance(url, str) and url.startswith(origin):
                url = base.rstrip("/") + "/" + url[len(origin) :]
            if kwargs.get("timeout") is None:
                kwargs["timeout"] = timeout
            response = super().request(method, url, *args, **kwargs)
            content_type = response.headers.get("content-type", "")
            if response.status_code >= 400 or "json" not in content_type:
                body = _http.json_object(response)
                error = body.get("error")
                raise _HttpError(
                    response.status_code,
                    error if isinstance(error, Mapping) else {},
                    dict(response.headers),
                )
            return response

    return GraphSession()


class FacebookWriter(Writer):
    """Link posts of at most 63,206 characters; Facebook draws the card from the page."""

    kind: ClassVar[str] = "facebook"
    limit = LIMIT
    link_outside_text = True  # the post's ``link`` field

    def finish(self, post: Post, spec: PostSpec) -> Post:
        # The image is kept for previews: Facebook builds the card from the page's og:image.
        return extended(post, card="built by Facebook from the page")


class FacebookPublisher(PublisherBase):
    """A Facebook Page, posting with a Page access token."""

    kind: ClassVar[str] = "facebook"
    writer_type: ClassVar[type[Writer]] = FacebookWriter

    def __init__(
        self,
        *,
        name: str,
        page_id: str | int,
        access_token: str,
        graph_version: str = GRAPH_VERSION,
        api_url: str = API_URL,
        timeout: str = _media.DEFAULT_TIMEOUT,
        language: str | None = None,
        template: str | None = None,
        utm: bool = False,
    ) -> None:
        import facebook

        self.writer = FacebookWriter(name=name, language=language, template=template, utm=utm)
        self.name = name
        self.page_id = str(page_id).strip()
        if not self.page_id.isdigit():
            raise ValueError("page_id: expected the Page's numeric id, such as 104123456789012")
        self._token = _media.secret(access_token, "access_token")
        version = str(graph_version).strip()
        if not version.startswith("v"):
            version = "v" + version
        if not version[1:].replace(".", "").isdigit() or "." not in version:
            raise ValueError("graph_version: expected a Graph API version such as v21.0")
        self.graph_version = version
        self.api_url = _media.base_url(api_url)
        self.timeout = _media.seconds(timeout)
        self._session = _graph_session(self.api_url, self.timeout)
        self._graph = facebook.GraphAPI(
            access_token=self._token, timeout=self.timeout, session=self._session
        )
        # facebook-sdk's constructor only accepts versions up to 3.1.
        self._graph.version = self.graph_version
        self._lock = threading.Lock()

    # -- publish -----------------------------------------------------------------------

    def publish(self, post: Post, *, key: str) -> Receipt:
        with self._lock:
            try:
                answer = self._call(
                    lambda: self._graph.put_object(
                        self.page_id, "feed", message=post.text, link=post.link
                    )
                )
            except _Duplicate:
                found = self._find(post)
                logs.event(
                    "facebook-duplicate",
                    level=logging.WARNING,
                    account=self.name,
                    found=found.url if found else "not among recent posts",
                )
                return found or Receipt(remote_id="duplicate", url=None)
        post_id = str(answer.get("id", "")) if isinstance(answer, Mapping) else ""
        if not post_id:
            raise UnavailableError(self.name, "Facebook answered without the new post's id")
        return Receipt(remote_id=post_id, url=f"https://www.facebook.com/{post_id}")

    def find(self, post: Post, *, key: str) -> Receipt | None:
        with self._lock:
            return self._find(post)

    def _find(self, post: Post) -> Receipt | None:
        answer = self._call(
            lambda: self._graph.get_connections(
                self.page_id,
                "feed",
                fields="id,message,permalink_url,attachments{url,unshimmed_url}",
                limit=FIND_COUNT,
            )
        )
        posts = answer.get("data") if isinstance(answer, Mapping) else None
        for entry in posts if isinstance(posts, list) else []:
            if not isinstance(entry, Mapping) or not _mentions(entry, post.link):
                continue
            post_id = str(entry.get("id", ""))
            url = entry.get("permalink_url") or f"https://www.facebook.com/{post_id}"
            return Receipt(remote_id=post_id, url=str(url))
        return None

    def check(self) -> AccountInfo:
        with self._lock:
            page = self._call(lambda: self._graph.get_object(self.page_id, fields="id,name,link"))
        name = str(page.get("name", self.page_id)) if isinstance(page, Mapping) else self.page_id
        return AccountInfo(
            name=name,
            details={
                "page_id": self.page_id,
                "graph_version": self.graph_version,
                "limit": f"{LIMIT} characters",
            },
        )

    def close(self) -> None:
        self._session.close()

    # -- taking back -------------------------------------------------------------------

    can_delete: ClassVar[bool] = True

    def delete(self, sent: SentPost) -> Removal:
        """``DELETE /{post-id}``. The Graph API answers a post that no longer exists with
        its "does not exist" error (code 100), which means gone: after a crash, the
        deletion made before it is asked for again. That answer is read here, before the
        error mapping, where code 100 with subcode 33 would say the Page is unknown."""
        with self._lock:
            try:
                self._call(lambda: self._graph.delete_object(sent.remote_id), deleting=True)
            except _Gone:
                return Removal.GONE
        return Removal.DELETED

    can_edit: ClassVar[bool] = True

    def edit(self, sent: SentPost, text: str) -> None:
        """``POST /{post-id}`` with the new ``message``; the link card stays as it was."""
        path = f"{self._graph.version}/{sent.remote_id}"
        with self._lock:
            self._call(
                lambda: self._graph.request(path, post_args={"message": text}, method="POST")
            )

    # -- errors ------------------------------------------------------------------------

    def _call(self, fn: Callable[[], _T], *, deleting: bool = False) -> _T:
        import facebook
        import requests

        try:
            return fn()
        except _HttpError as e:
            raise self._translate(e.error, e.status, e.headers, deleting=deleting) from None
        except facebook.GraphAPIError as e:
            result = e.result if isinstance(e.result, Mapping) else {}
            error = result.get("error") if isinstance(result.get("error"), Mapping) else {}
            raise self._translate(
                error or {"message": str(e)}, None, {}, deleting=deleting
            ) from None
        except requests.RequestException as e:
            # The exception's text names the URL, whose query carries the token on reads.
            raise _http.transport_error(self.name, e, what="cannot reach the Graph API") from None

    def _translate(
        self,
        error: Mapping[str, Any],
        status: int | None,
        headers: Mapping[str, str],
        *,
        deleting: bool = False,
    ) -> Exception:
        code = error.get("code")
        code = code if isinstance(code, int) else None
        message = logs.redact(str(error.get("message") or "no details"), [self._token])[:500]
        if deleting and code == NOT_FOUND_CODE and "does not exist" in message:
            return _Gone()
        said = f"(HTTP {status}, code {code}): {message}" if status else f"(code {code}): {message}"
        if code == DUPLICATE_CODE:
            return _Duplicate()
        # The Graph error code says more than the status; the status decides without one.
        subcode = error.get("error_subcode")
        if code in TOKEN_CODES:
            return AuthError(
                self.name, f"Facebook refused the Page token {said}; generate a new Page token"
            )
        if code in PERMISSION_CODES:
            return AuthError(
                self.name,
                f"Facebook refused a permission {said}; the Page token needs "
                "pages_manage_posts and pages_read_engagement, from someone with a role on "
                "the Page that allows posting",
            )
        if code == BLOCKED_CODE:
            return AuthError(
                self.name,
                f"Facebook has blocked the Page from posting for a while {said}; resume the "
                "account once the block is lifted (see the Page's quality in Meta Business Suite)",
            )
        if (code, subcode) == NO_PAGE:
            return AuthError(
                self.name,
                f"Facebook cannot find this Page with this token {said}; check page_id and "
                "that the token is this Page's",
            )
        if code in RATE_CODES:
            return RateLimitedError(
                self.name, f"Facebook rate limit {said}", retry_after=_regain_after(headers)
            )
        if code in TRANSIENT_CODES or (code is None and (status is None or status < 400)):
            return UnavailableError(self.name, f"Facebook failed on its side {said}")
        if status is None or (status < 500 and status not in (401, 429) and code is not None):
            return RejectedError(self.name, f"Facebook refused the post {said}")
        return _http.status_error(
            self.name, status, f"Facebook answered {said}", retry_after=_regain_after(headers)
        )


class _Duplicate(PublishError):
    def __init__(self) -> None:
        super().__init__("", "duplicate")


class _Gone(PublishError):
    """The post to delete is no longer there."""

    def __init__(self) -> None:
        super().__init__("", "gone")


def _mentions(entry: Mapping[str, Any], link: str) -> bool:
    if link in str(entry.get("message", "")):
        return True
    attachments = entry.get("attachments")
    data = attachments.get("data") if isinstance(attachments, Mapping) else None
    for attachment in data if isinstance(data, list) else []:
        if isinstance(attachment, Mapping) and link in (
            attachment.get("unshimmed_url"),
            attachment.get("url"),
        ):
            return True
    return False


def _regain_after(headers: Mapping[str, str]) -> float | None:
    """Seconds until Facebook lifts a rate limit, from its usage headers when it says."""
    lowered = {k.lower(): v for k, v in headers.items()}
    minutes: list[float] = []
    for name in ("x-business-use-case-usage", "x-app-usage", "x-page-usage"):
        try:
            usage = json.loads(lowered.get(name, "") or "null")
        except ValueError:
            continue
        entries = [usage] if isinstance(usage, Mapping) else []
        for value in usage.values() if isinstance(usage, Mapping) else []:
            entries += value if isinstance(value, list) else []
        for entry in entries:
            if isinstance(entry, Mapping):
                wait = entry.get("estimated_time_to_regain_access")
                if isinstance(wait, int | float) and wait > 0:
                    minutes.append(float(wait))
    return max(minutes) * 60 if minutes else None
