"""Which accounts an item goes to: the feed's include and exclude filters."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from autoposter.config import FeedConfig, Filter
from autoposter.types import Item


def _fold(text: str) -> str:
    """Case- and accent-insensitive form, so "Conseil municipal" matches "conseil MUNICIPAL"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@lru_cache(maxsize=1024)
def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)" + re.escape(_fold(keyword)) + r"(?!\w)")


def matches(item: Item, rule: Filter) -> bool:
    """True if the item carries one of the rule's categories or one of its keywords."""
    if rule.categories:
        wanted = {_fold(c) for c in rule.categories}
        if any(_fold(c) in wanted for c in item.categories):
            return True
    if rule.keywords:
        text = _fold(f"{item.title}\n{item.summary}")
        if any(_keyword_pattern(k).search(text) for k in rule.keywords):
            return True
    return False


def accepts(feed: FeedConfig, item: Item) -> bool:
    """Whether the feed's filters let this item through to its accounts."""
    if not feed.include.is_empty() and not matches(item, feed.include):
        return False
    return feed.exclude.is_empty() or not matches(item, feed.exclude)
