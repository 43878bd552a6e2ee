"""An Atom feed of a watch's recent matches, for any feed reader (``/watch/<name>.atom``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree as ET

from autoposter.config import Config
from autoposter.storage.watch import StoredMatch, WatchStore

__all__ = ["RECENT", "atom_feed", "watch_atom"]

ATOM = "http://www.w3.org/2005/Atom"
RECENT = timedelta(days=14)
MAX_ENTRIES = 200
# Characters XML 1.0 cannot carry at all: one of them in a post would make the whole
# document unreadable to every feed reader.
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def watch_atom(
    config: Config, store: WatchStore, name: str, now: datetime | None = None
) -> bytes | None:
    """The feed of watch ``name``'s matches of the last two weeks; None for an unknown watch."""
    if name not in config.watch.watches:
        return None
    now = now or datetime.now(UTC)
    matches = store.since(now - RECENT, name)[-MAX_ENTRIES:]
    return atom_feed(name, matches, now=now)


def atom_feed(name: str, matches: Sequence[StoredMatch], *, now: datetime) -> bytes:
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    _text(feed, "id", f"urn:autoposter:watch:{name}")
    _text(feed, "title", f"autoposter watch: {name}")
    _text(feed, "updated", (matches[-1].first_seen_at if matches else now).isoformat())
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    _text(author, "name", "autoposter")
    for stored in reversed(matches):  # newest first
        m = stored.match
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        _text(entry, "id", f"urn:autoposter:watch:{name}:{stored.id}")
        flag = "[ALERT] " if m.alert else ""
        _text(entry, "title", flag + (m.title or " ".join(m.text.split())[:100] or m.url))
        ET.SubElement(entry, f"{{{ATOM}}}link", href=_xml(m.url), rel="alternate")
        _text(entry, "updated", stored.first_seen_at.isoformat())
        if m.published:
            _text(entry, "published", m.published.isoformat())
        if m.author:
            _text(_sub(entry, "author"), "name", m.author)
        ET.SubElement(entry, f"{{{ATOM}}}category", term=_xml(m.source))
        for word in m.keywords:
            ET.SubElement(
                entry, f"{{{ATOM}}}category", term=_xml(word), label=_xml(f"keyword: {word}")
            )
        if m.text:
            _text(entry, "summary", m.text)
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return body


def _sub(parent: ET.Element, tag: str) -> ET.Element:
    return ET.SubElement(parent, f"{{{ATOM}}}{tag}")


def _text(parent: ET.Element, tag: str, text: str) -> None:
    _sub(parent, tag).text = _xml(text)


def _xml(text: str) -> str:
    return _NOT_XML.sub("", text)
