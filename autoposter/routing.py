"""Which accounts an item goes to: the feed's include and exclude filters."""

from __future__ import annotations

import re
from functools import lru_cache

from autoposter.config import FeedConfig, Filter
from autoposter.textfold import fold as _fold
from autoposter.types import Item


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
