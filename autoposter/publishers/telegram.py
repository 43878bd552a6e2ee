"""Telegram channel: one message per item through the Bot API's ``sendMessage``, plain HTTP.

The message is HTML (``parse_mode: HTML``): every piece of text escaped
(``< > &``), the title in ``<b>``, the link written out (Telegram links it)
and shown as a link preview. The 4,096-character limit applies to the text
after entity parsing, the visible text: it is counted in UTF-16 code units,
as Telegram counts, so an emoji counts 2.

The bot token is part of every URL (``/bot<TOKEN>/…``), and httpx puts the URL
in its exceptions: no httpx exception or its text leaves this module; errors
are raised ``from None`` with a message of our own, and any text from
Telegram is stripped of the token before use.

A bot cannot read a channel's history: ``find`` always answers None (cannot
tell), so a delivery interrupted after sending needs an operator's look.
"""

from __future__ import annotations

import dataclasses
import html
import re
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from autoposter import logs
from autoposter.errors import AuthError, RateLimitedError, RejectedError, UnavailableError
from autoposter.publishers import _http, _media
from autoposter.publishers._base import PublisherBase, Writer, extended
from autoposter.types import AccountInfo, Item, Post, PostSpec, Receipt, Removal, SentPost

API_URL = "https://api.telegram.org"
LIMIT = 4096
# Telegram lets a bot delete a channel message for 48 hours; a little less, to be safe.
DELETE_WITHIN = timedelta(hours=47)

# Private-use characters mark where the title starts and ends in the rendered text;
# they are counted as nothing and become <b> and </b>.
_OPEN, _CLOSE = "\ue000", "\ue001"
_MARKS = re.compile(f"[{_OPEN}{_CLOSE}]")
_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]{20,}")
_CHAT = re.compile(r"@[A-Za-z][A-Za-z0-9_]{3,}|-?\d+")


def visible_length(text: str) -> int:
    """Telegram's count of a message's visible text: UTF-16 code units."""
    return len(_MARKS.sub("", text).encode("utf-16-le")) // 2


def to_html(marked: str) -> str:
    """The rendered text (title between the marks) as Telegram HTML."""
    escaped = html.escape(marked, quote=False)
    if _OPEN in escaped and _CLOSE not in escaped:
        # The title was shortened: its end is the "…" the shortening added.
        start = escaped.index(_OPEN)
        cut = escaped.find("…", start)
        end = cut + 1 if cut >= 0 else len(escaped)
        escaped = escaped[:end] + _CLOSE + escaped[end:]
    return escaped.replace(_OPEN, "<b>").replace(_CLOSE, "</b>")


# Telegram's 400s that concern the chat or the bot's place in it, not the message
# (Bot API error descriptions, checked 2026-12): the account waits for a person.
_CHAT_GONE = ("chat not found", "upgraded to a supergroup", "channel_private", "chat_id is empty")
_NO_RIGHTS = (
    "not enough rights",
    "have no rights",
    "need administrator rights",
    "chat_write_forbidden",
    "chat_admin_required",
)


class TelegramWriter(Writer):
    """HTML messages of at most 4,096 visible characters, the title in bold."""

    kind: ClassVar[str] = "telegram"
    limit = LIMIT

    def adapt(self, item: Item, spec: PostSpec) -> Item:
        title, summary = _MARKS.sub("", item.title), _MARKS.sub("", item.summary)
        marked = f"{_OPEN}{title}{_CLOSE}" if title else ""
        return dataclasses.replace(item, title=marked, summary=summary)

    def counter(self, item: Item, spec: PostSpec) -> Callable[[str], int]:
        return visible_length

    def finish(self, post: Post, spec: PostSpec) -> Post:
        marked = post.text
        plain = dataclasses.replace(
            post, text=_MARKS.sub("", marked), title=_MARKS.sub("", post.title)
        )
        # The HTML goes with the text it was made from: a text a person edited in the
        # console replaces ``text`` only, and must then be escaped afresh (``message_html``).
        return extended(plain, html=to_html(marked), html_of=plain.text)


def message_html(post: Post) -> str:
    """The message as Telegram's HTML: the writer's, with its bold title, while the text
    is still the one it was made from; else the text as written, escaped."""
    if post.extra.get("html") and post.extra.get("html_of") == post.text:
        return post.extra["html"]
    return html.escape(post.text, quote=False)


class TelegramPublisher(PublisherBase):
    """A Telegram channel (or group) the bot is an administrator of."""

    kind: ClassVar[str] = "telegram"
    writer_type: ClassVar[type[Writer]] = TelegramWriter
    # No way to ask whether a post exists: the delivery engine never retries blindly.
    can_find: ClassVar[bool] = False

    def __init__(
        self,
        *,
        name: str,
        bot_token: str,
        chat_id: str | int,
        disable_notification: bool = False,
        link_preview: bool = True,
        api_url: str = API_URL,
        timeout: str = _media.DEFAULT_TIMEOUT,
        language: str | None = None,
        template: str | None = None,
        utm: bool = False,
    ) -> None:
        import httpx

        self.writer = TelegramWriter(name=name, language=language, template=template, utm=utm)
        self.name = name
        token = _media.secret(bot_token, "bot_token")
        if not _TOKEN.fullmatch(token):
            raise ValueError("bot_token: expected a token such as 123456789:AAE… from @BotFather")
        self._token = token
        chat = str(chat_id).strip()
        if not _CHAT.fullmatch(chat):
            raise ValueError(
                "chat_id: expected @channelname or a numeric id such as -1001234567890"
            )
        self.chat_id = chat
        self.disable_notification = _media.flag(disable_notification, "disable_notification")
        self.link_preview = _media.flag(link_preview, "link_preview")
        self.api_url = _media.base_url(api_url)
        self.timeout = _media.seconds(timeout)
        self._http = httpx.Client(timeout=self.timeout, headers={"User-Agent": _media.USER_AGENT})
        self._lock = threading.Lock()

    # -- publish -----------------------------------------------------------------------

    def publish(self, post: Post, *, key: str) -> Receipt:
        body: dict[str, Any] = {
            "chat_id": self.chat_id,
            "text": message_html(post),
            "parse_mode": "HTML",
            "disable_notification": self.disable_notification,
            "link_preview_options": (
                {"url": post.link, "prefer_large_media": True}
                if self.link_preview
                else {"is_disabled": True}
            ),
        }
        with self._lock:
            result = self._call("sendMessage", body)
        message_id = result.get("message_id") if isinstance(result, Mapping) else None
        if not isinstance(message_id, int):
            raise UnavailableError(self.name, "Telegram answered without the message id")
        return Receipt(remote_id=str(message_id), url=self.message_url(message_id))

    def message_url(self, message_id: int) -> str | None:
        if self.chat_id.startswith("@"):
            return f"https://t.me/{self.chat_id[1:]}/{message_id}"
        return None

    def find(self, post: Post, *, key: str) -> Receipt | None:
        return None  # bots cannot read a channel's history

    def check(self) -> AccountInfo:
        with self._lock:
            me = self._call("getMe", {})
            chat = self._call("getChat", {"chat_id": self.chat_id})
        bot = f"@{me.get('username', '?')}" if isinstance(me, Mapping) else "?"
        title = str(chat.get("title") or self.chat_id) if isinstance(chat, Mapping) else "?"
        return AccountInfo(
            name=title,
            details={"bot": bot, "chat_id": self.chat_id, "limit": f"{LIMIT} characters"},
        )

    def close(self) -> None:
        self._http.close()

    # -- taking back -------------------------------------------------------------------

    can_delete: ClassVar[bool] = True

    def delete(self, sent: SentPost) -> Removal:
        """``deleteMessage``; past Telegram's 48 hours (or when it says the message can no
        longer be deleted), ``editMessageText`` replaces the text with a withdrawal notice."""
        message = {"chat_id": self.chat_id, "message_id": int(sent.remote_id)}
        young = sent.sent_at is None or datetime.now(UTC) - sent.sent_at < DELETE_WITHIN
        with self._lock:
            if young:
                try:
                    self._call("deleteMessage", message)
                    return Removal.DELETED
                except RejectedError as e:
                    said = e.message.lower()
                    if "not found" in said:
                        return Removal.GONE
                    if "can't be deleted" not in said:
                        raise
            notice = {
                **message,
                "text": withdrawn_notice(sent.title, sent.reason),
                "parse_mode": "HTML",
                "link_preview_options": {"is_disabled": True},
            }
            try:
                self._call("editMessageText", notice)
            except RejectedError as e:
                said = e.message.lower()
                if "not found" in said:
                    return Removal.GONE
                if "not modified" not in said:  # already says so: an earlier attempt
                    raise
        return Removal.WITHDRAWN

    can_edit: ClassVar[bool] = True

    def edit(self, sent: SentPost, text: str) -> None:
        """``editMessageText``; Telegram refuses the same text again as "not modified",
        which is an edit already made (an attempt interrupted after the call)."""
        body = {
            "chat_id": self.chat_id,
            "message_id": int(sent.remote_id),
            "text": html.escape(text, quote=False),
            "parse_mode": "HTML",
            "link_preview_options": (
                {"url": sent.link, "prefer_large_media": True}
                if self.link_preview
                else {"is_disabled": True}
            ),
        }
        with self._lock:
            try:
                self._call("editMessageText", body)
            except RejectedError as e:
                if "not modified" not in e.message.lower():
                    raise

    # -- errors ------------------------------------------------------------------------

    def _call(self, method: str, body: Mapping[str, Any]) -> Any:
        import httpx

        url = f"{self.api_url}/bot{self._token}/{method}"
        failure: UnavailableError | None = None
        try:
            response = self._http.post(url, json=body)
        except httpx.HTTPError as e:
            # Never str(e): httpx names the URL, and the URL holds the token.
            failure = _http.transport_error(self.name, e, what=f"Telegram {method}")
        if failure is not None:
            # Raised outside the except block: the httpx exception is not even its context.
            raise failure
        status = response.status_code
        data = _http.json_object(response)
        if status == 200 and data.get("ok") is True:
            return data.get("result")
        description = logs.redact(
            str(data.get("description") or response.reason_phrase or "no details"), [self._token]
        )[:500]
        said = f"Telegram {method} ({status}): {description}"
        if status in (401, 404) and method != "getChat":
            raise AuthError(self.name, f"{said}; check bot_token")
        if status == 403:
            raise AuthError(self.name, f"{said}; make the bot an administrator of {self.chat_id}")
        if status == 429:
            # Telegram says how long in its body, not in Retry-After.
            parameters = data.get("parameters")
            wait = parameters.get("retry_after") if isinstance(parameters, Mapping) else None
            raise RateLimitedError(
                self.name,
                said,
                retry_after=float(wait) if isinstance(wait, int | float) else None,
            )
        if status == 200:  # an answer without "ok": Telegram's side failed
            raise UnavailableError(self.name, said)
        lowered = description.lower()
        if status == 400 and any(words in lowered for words in _CHAT_GONE):
            raise AuthError(self.name, f"{said}; check chat_id and that the bot is in the chat")
        if status == 400 and any(words in lowered for words in _NO_RIGHTS):
            raise AuthError(
                self.name,
                f"{said}; make the bot an administrator of {self.chat_id} allowed to post",
            )
        raise _http.status_error(self.name, status, said)


def withdrawn_notice(title: str, reason: str) -> str:
    """The HTML that replaces a message Telegram no longer lets a bot delete."""
    text = f"<b>Withdrawn</b>: {html.escape(title, quote=False)}"
    if reason:
        text += f"\n{html.escape(reason, quote=False)}"
    return text
