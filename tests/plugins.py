"""A careless publisher plugin, installed for a child process through an entry point.

``LeakyPublisher`` does what a badly written network adapter would: it puts
its credentials in the URL of its requests (as the Telegram Bot API does),
quotes that URL in its errors, logs it, and lets a bug's exception carry its
token. autoposter's redaction must still keep every secret out of the output
and the database. It registers under the type ``leaky`` exactly like a
third-party plugin: ``install_plugins(folder)`` writes a ``dist-info`` with an
``entry_points.txt`` that ``importlib.metadata`` finds on ``PYTHONPATH``.

``mode`` chooses the failure: ``auth`` (the fake API answers 401), ``network``
(nothing listens), ``crash`` (a bug: a plain exception), ``ok`` (posts).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import ClassVar
from urllib.parse import quote, quote_plus

import httpx

from autoposter import logs
from autoposter.errors import AuthError, PublishError, UnavailableError
from autoposter.types import AccountInfo, Item, Post, PostSpec, Receipt

ENTRY_POINTS = "[autoposter.publishers]\nleaky = tests.plugins:LeakyPublisher\n"


def install_plugins(folder: Path) -> Path:
    """Make ``leaky`` an installed publisher type for a process with ``folder`` on its path."""
    dist = folder / "autoposter_test_plugins-0.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: autoposter-test-plugins\nVersion: 0\n", encoding="utf-8"
    )
    (dist / "entry_points.txt").write_text(ENTRY_POINTS, encoding="utf-8")
    return folder


class LeakyPublisher:
    kind: ClassVar[str] = "leaky"

    def __init__(
        self,
        *,
        name: str,
        api_url: str,
        token: str,
        bot_token: str = "",
        password: str = "",
        app_password: str = "",
        mode: str = "auth",
        expires: str = "",
    ) -> None:
        if mode not in ("auth", "network", "crash", "ok"):
            raise ValueError(f"unknown mode {mode!r}")
        self.name = name
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.bot_token = bot_token
        self.password = password
        self.app_password = app_password
        self.mode = mode
        self.expires = expires
        self._client = httpx.Client(timeout=5.0)

    def _url(self, method: str) -> str:
        # Every credential where a careless adapter would put it.
        return (
            f"{self.api_url}/bot{self.bot_token}/{method}?access_token={quote(self.token)}"
            f"&password={quote_plus(self.password)}&app={quote(self.app_password, safe='')}"
        )

    def _call(self, method: str) -> httpx.Response:
        url = self._url(method)
        logs.event("request", level=logging.WARNING, account=self.name, url=url)
        try:
            response = self._client.post(url, json={"token": self.token})
            response.raise_for_status()
        except httpx.HTTPStatusError as e:
            if e.response.status_code == 401:
                raise AuthError(self.name, f"{e} (token {self.token!r})") from e
            raise UnavailableError(self.name, str(e)) from e
        except httpx.TransportError as e:
            raise UnavailableError(self.name, f"cannot reach {url}: {e!r}") from e
        return response

    def render(self, item: Item, spec: PostSpec) -> Post:
        return Post(account=self.name, text=item.title, link=item.link, language=spec.language)

    def publish(self, post: Post, *, key: str) -> Receipt:
        if self.mode == "crash":
            try:
                raise ValueError(f"the API refused {self.app_password} for {self.bot_token}")
            except ValueError:
                logs.log.exception("careless adapter, password=%s", self.password)
            raise RuntimeError(f"bug: unexpected answer for token {self.token}")
        if self.mode in ("auth", "network"):
            self._call("sendMessage")
        sys.stdout.write(f"posted by {self.name}: {post.text}\n")
        return Receipt(remote_id=f"leaky:{key}")

    def find(self, post: Post, *, key: str) -> Receipt | None:
        return None

    def check(self) -> AccountInfo:
        if self.mode in ("auth", "network"):
            self._call("getMe")
        if self.mode == "crash":
            raise PublishError(self.name, f"cannot check {self._url('getMe')}")
        details = {"expires": self.expires} if self.expires else {}
        return AccountInfo(name=f"@{self.name}", details=details)

    def close(self) -> None:
        self._client.close()
