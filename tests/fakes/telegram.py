"""A double of the Telegram Bot API on 127.0.0.1: ``sendMessage``, ``getMe``, ``getChat``.

The token is in the path (``/bot<TOKEN>/method``) as on Telegram. A message in
``parse_mode: HTML`` is parsed as Telegram parses it — only its tags and its
four entities, anything else is "can't parse entities" — and its visible text
must be 1 to 4,096 UTF-16 code units.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from typing import Any

from tests.fakes.apiserver import ApiError, ApiRequest, ApiResponse, ApiServer

TOKEN = "123456789:AAEfakeTelegramBotToken_0123456789ab"
CHANNEL = "@ville_exemple"
CHANNEL_ID = "-1001234567890"
KICKED = "@ancien_canal"

_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
         "tg-spoiler", "blockquote", "span"}  # fmt: skip
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TOKENS = re.compile(
    r"<(/?)([a-z-]+)((?:\s+[a-z]+=\"[^\"]*\")*)\s*>|&(#x[0-9a-fA-F]+|#\d+|[a-z]+);|[<>&]"
)


def tg_error(status: int, description: str, **extra: Any) -> ApiError:
    return ApiError(
        status, {"ok": False, "error_code": status, "description": description, **extra}
    )


def parse_html(text: str) -> str:
    """The visible text of an HTML message, or ApiError 400 as Telegram answers."""
    out: list[str] = []
    stack: list[str] = []
    pos = 0
    for m in _TOKENS.finditer(text):
        out.append(text[pos : m.start()])
        pos = m.end()
        closing, tag, _attrs, entity = m.group(1), m.group(2), m.group(3), m.group(4)
        if tag is not None:
            if tag not in _TAGS:
                raise tg_error(
                    400, f'Bad Request: can\'t parse entities: unsupported start tag "{tag}"'
                )
            if closing:
                if not stack or stack.pop() != tag:
                    raise tg_error(
                        400, f'Bad Request: can\'t parse entities: unmatched end tag "{tag}"'
                    )
            else:
                stack.append(tag)
        elif entity is not None:
            if entity.startswith("#x"):
                out.append(chr(int(entity[2:], 16)))
            elif entity.startswith("#"):
                out.append(chr(int(entity[1:])))
            elif entity in _ENTITIES:
                out.append(_ENTITIES[entity])
            else:
                raise tg_error(400, f"Bad Request: can't parse entities: unknown entity &{entity};")
        else:
            raise tg_error(
                400, f"Bad Request: can't parse entities: unexpected character {m.group()!r}"
            )
    out.append(text[pos:])
    if stack:
        raise tg_error(400, f'Bad Request: can\'t parse entities: unclosed tag "{stack[-1]}"')
    return "".join(out)


class FakeTelegram(ApiServer):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[dict[str, Any]] = []
        self.deleted: list[int] = []  # ids of the messages deleted, in order
        self.edited: list[int] = []  # ids of the messages edited, in order
        self.clock = time.time  # tests move time past the 48 hours of deleteMessage
        self._ids = itertools.count(101)
        self._mlock = threading.Lock()
        self.route("POST", r"/bot(?P<token>[^/]*)/(?P<method>\w+)", self.dispatch)

    def reset(self) -> None:
        """Forget what was received and any fault not yet used (a server shared by tests)."""
        with self._lock:
            self.requests.clear()
            self._faults.clear()
        self.messages.clear()
        self.deleted.clear()
        self.edited.clear()
        self.clock = time.time

    def dispatch(self, request: ApiRequest) -> ApiResponse:
        assert request.match is not None
        token = request.match["token"]
        if not re.fullmatch(r"\d+:[\w-]+", token):
            raise tg_error(404, "Not Found")
        if token != TOKEN:
            raise tg_error(401, "Unauthorized")
        method = request.match["method"]
        body = request.json() or {}
        if method == "getMe":
            return self.ok({"id": 123456789, "is_bot": True, "username": "ExempleVilleBot"})
        if method == "getChat":
            return self.ok(self._chat(body.get("chat_id")))
        if method == "sendMessage":
            return self.send_message(body)
        if method == "deleteMessage":
            return self.delete_message(body)
        if method == "editMessageText":
            return self.edit_message_text(body)
        raise tg_error(404, "Not Found: method not found")

    @staticmethod
    def ok(result: Any) -> ApiResponse:
        return ApiResponse.json({"ok": True, "result": result})

    @staticmethod
    def _chat(chat_id: Any) -> dict[str, Any]:
        chat = str(chat_id)
        if chat == KICKED:
            raise tg_error(403, "Forbidden: bot is not a member of the channel chat")
        if chat not in (CHANNEL, CHANNEL_ID):
            raise tg_error(400, "Bad Request: chat not found")
        return {"id": int(CHANNEL_ID), "title": "Ville d'Exemple", "type": "channel",
                "username": CHANNEL[1:]}  # fmt: skip

    def send_message(self, body: dict[str, Any]) -> ApiResponse:
        chat = self._chat(body.get("chat_id"))
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise tg_error(400, "Bad Request: message text is empty")
        visible = parse_html(text) if body.get("parse_mode") == "HTML" else text
        if len(visible.encode("utf-16-le")) // 2 > 4096:
            raise tg_error(400, "Bad Request: message is too long")
        if not visible.strip():
            raise tg_error(400, "Bad Request: message text is empty")
        preview = body.get("link_preview_options")
        if preview is not None and not isinstance(preview, dict):
            raise tg_error(400, "Bad Request: can't parse link preview options")
        with self._mlock:
            message_id = next(self._ids)
            self.messages.append(
                {"message_id": message_id, "html": text, "visible": visible, "body": body,
                 "date": self.clock()}
            )  # fmt: skip
        return self.ok({"message_id": message_id, "chat": chat, "date": 1_790_000_000,
                        "text": visible})  # fmt: skip

    # -- deleting and editing --------------------------------------------------------

    def _message(self, body: dict[str, Any], missing: str) -> dict[str, Any]:
        self._chat(body.get("chat_id"))
        message_id = body.get("message_id")
        found = next((m for m in self.messages if m["message_id"] == message_id), None)
        if found is None:
            raise tg_error(400, f"Bad Request: {missing}")
        return found

    def delete_message(self, body: dict[str, Any]) -> ApiResponse:
        """``deleteMessage``: True; a bot may delete a channel message for 48 hours only."""
        with self._mlock:
            message = self._message(body, "message to delete not found")
            if self.clock() - message["date"] > 48 * 3600:
                raise tg_error(400, "Bad Request: message can't be deleted")
            self.messages.remove(message)
            self.deleted.append(message["message_id"])
        return self.ok(True)

    def edit_message_text(self, body: dict[str, Any]) -> ApiResponse:
        """``editMessageText``: the edited message; the same text again is refused."""
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise tg_error(400, "Bad Request: message text is empty")
        visible = parse_html(text) if body.get("parse_mode") == "HTML" else text
        with self._mlock:
            message = self._message(body, "message to edit not found")
            if message["html"] == text:
                raise tg_error(
                    400,
                    "Bad Request: message is not modified: specified new message content and "
                    "reply markup are exactly the same as a current content and reply markup "
                    "of the message",
                )
            message.update(html=text, visible=visible, body={**message["body"], **body})
            self.edited.append(message["message_id"])
        return self.ok({"message_id": message["message_id"], "text": visible})
