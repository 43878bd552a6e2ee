"""The console publisher: prints the post it would make. For trying autoposter out."""

from __future__ import annotations

import sys
import threading
from typing import ClassVar

from autoposter.publishers._base import PublisherBase, Writer
from autoposter.types import AccountInfo, Post, Receipt


class ConsoleWriter(Writer):
    """Posts of at most ``limit`` characters, written as the feed says."""

    kind: ClassVar[str] = "console"

    def __init__(self, *, name: str, limit: int = 500) -> None:
        if limit < 50:
            raise ValueError("limit must be at least 50 characters")
        super().__init__(name=name)
        self.limit = limit


class ConsolePublisher(PublisherBase):
    """Writes each post to standard output, framed, as it would appear on a network."""

    kind: ClassVar[str] = "console"
    writer_type: ClassVar[type[Writer]] = ConsoleWriter
    # A crash mid-print cannot be checked afterwards.
    can_find: ClassVar[bool] = False

    def __init__(self, *, name: str, limit: int = 500) -> None:
        self.writer = ConsoleWriter(name=name, limit=limit)
        self.name = name
        self.limit = limit
        self._lock = threading.Lock()

    def publish(self, post: Post, *, key: str) -> Receipt:
        stream = sys.stdout
        rule = "─" * 60
        with self._lock:
            stream.write(f"┌{rule}\n│ {self.name} · {post.language}\n├{rule}\n")
            for line in post.text.splitlines() or [""]:
                stream.write(f"│ {line}\n")
            if post.image is not None:
                stream.write(f"│ [image: {post.image.url} — alt: {post.image.alt or '(none)'}]\n")
            stream.write(f"└{rule}\n")
            stream.flush()
        return Receipt(remote_id=f"console:{key}")

    def find(self, post: Post, *, key: str) -> Receipt | None:
        return None

    def check(self) -> AccountInfo:
        return AccountInfo(name=self.name, details={"limit": str(self.limit)})

    def close(self) -> None:
        pass
