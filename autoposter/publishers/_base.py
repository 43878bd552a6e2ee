"""The two halves of a publisher: the writer (pure) and the client (the network).

``Writer`` turns an item into a post for one account: the network's limits,
its exact length counting, the card and image choice. It imports no SDK and
no HTTP library and holds no secret, so previews, the queue and the web
console can render without a token. ``Writer.render`` is the one rendering
every network shares; a network's writer overrides only the hooks where it
differs:

- ``adapt(item, spec)``: the item as this network writes it (LinkedIn encodes
  its link, Telegram marks the title for ``<b>``);
- ``counter(item, spec)``: the length function ``limit`` is measured with
  (Bluesky's graphemes and bytes, X's weighted length);
- ``image(image)``: the item's image to attach, or None;
- ``finish(post, spec)``: the post with what the network adds (the preview's
  details in ``extra``, Telegram's HTML).

``Capabilities`` are the members the pipeline uses beyond the five calls of
``Publisher``, with their defaults; a plugin class that does not declare one
gets it from here when the registry loads it. ``PublisherBase`` is what the
built-in clients derive from: the capabilities, and ``render`` through the
client's ``writer``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, ClassVar, Final

from autoposter.errors import RejectedError
from autoposter.publishers._media import choice, flag, prepare, template as checked_template
from autoposter.render import render_text
from autoposter.types import (
    AccountStore,
    Image,
    Item,
    Network,
    Post,
    PostSpec,
    Removal,
    SentPost,
    Writer as WriterType,
)

__all__ = [
    "IMAGE_POLICIES",
    "Capabilities",
    "MemoryState",
    "PublisherBase",
    "Writer",
    "image_policy",
]

IMAGE_POLICIES: Final = ("with_alt", "always", "never")


def image_policy(value: object) -> str:
    """The ``images`` option: with_alt (the default), always or never; "with-alt" is
    accepted too, one spelling less to get wrong."""
    spelled = value.replace("-", "_") if isinstance(value, str) else value
    return choice(spelled, "images", IMAGE_POLICIES)


def with_policy(image: Image | None, policy: str) -> Image | None:
    """``image`` when ``policy`` attaches it: ``with_alt`` only with alt text."""
    if image is None or policy == "never":
        return None
    if policy == "with_alt" and not (image.alt or "").strip():
        return None
    return image


class Writer:
    """Writes items as posts for one account; pure. Built with keyword-only options,
    the part of the account block that says how to write (never a secret)."""

    kind: ClassVar[str]
    limit: int | None = None  # None: no limit
    # Whether the network carries the item's link in a field of its own (Facebook's
    # ``link``, LinkedIn's article), so that a text without it still links back to
    # the site; when False, ``check`` refuses a template without {link}.
    link_outside_text: ClassVar[bool] = False

    def __init__(
        self,
        *,
        name: str,
        language: str | None = None,
        template: str | None = None,
        utm: bool = False,
    ) -> None:
        self.name = name
        self.language = language
        self.template = checked_template(template)
        self.utm = flag(utm, "utm")

    def render(self, item: Item, spec: PostSpec) -> Post:
        """The post for ``item``, within this network's limit."""
        item, spec, language = prepare(
            item,
            spec,
            account=self.name,
            template=self.template,
            utm=self.utm,
            language=self.language,
        )
        item = self.adapt(item, spec)
        length = self.counter(item, spec)
        extra: dict[str, str] = {}
        try:
            text = render_text(item, spec, limit=self.limit, length=length)
        except ValueError:
            # The link alone is longer than the limit: show it the way the network
            # lets us while it still reaches the network whole (see ``link_shown``).
            shown = self.link_shown(item.link)
            if shown is None:
                raise
            shorter = dataclasses.replace(item, link=shown)
            text = render_text(shorter, spec, limit=self.limit, length=self.counter(shorter, spec))
            extra["link_text"] = shown or "none: the link goes in the network's own field"
        limit = "no limit" if self.limit is None else str(self.limit)
        post = Post(
            account=self.name,
            text=text,
            link=item.link,
            language=language,
            title=item.title,
            summary=item.summary,
            image=self.image(item.image),
            extra={"length": f"{length(text)}/{limit}", **extra},
        )
        return self.finish(post, spec)

    def link_shown(self, link: str) -> str | None:
        """What the text shows for ``link`` when it does not fit whole, or None when the
        network has no other way to carry it. A network that carries the link in a
        field of its own (``link_outside_text``) leaves it out of the text ("")."""
        return "" if self.link_outside_text else None

    def adapt(self, item: Item, spec: PostSpec) -> Item:
        return item

    def counter(self, item: Item, spec: PostSpec) -> Callable[[str], int]:
        return len

    def image(self, image: Image | None) -> Image | None:
        return image

    def finish(self, post: Post, spec: PostSpec) -> Post:
        return post


def extended(post: Post, **extra: str) -> Post:
    """``post`` with more (or other) preview details."""
    return dataclasses.replace(post, extra={**post.extra, **extra})


class Capabilities:
    """What the pipeline asks of a publisher besides its five calls, with the answers
    a publisher that says nothing gets."""

    # Whether ``find`` can tell that a post exists; without it a post that may have
    # been made is never retried blindly.
    can_find: ClassVar[bool] = True
    # Whether ``delete`` can take a post back; without it a retraction is reported
    # to the operator as something to do by hand.
    can_delete: ClassVar[bool] = False
    # Whether ``edit`` can replace a sent post's text; without it a correction at the
    # source is reported to the operator instead.
    can_edit: ClassVar[bool] = False
    # The pure half, for rendering without a client (previews, the web console).
    writer_type: ClassVar[type[WriterType] | None] = None

    # The non-public networks that URLs taken from content (an item's image) may reach.
    allow_networks: tuple[Network, ...] = ()

    @classmethod
    def config_warnings(cls, name: str, options: Mapping[str, Any], today: date) -> list[str]:
        """What ``check`` warns about in account ``name``'s block on ``today``: settings
        that work now and will not for long. Pure: no network call."""
        return []

    def attach_state(self, state: AccountStore) -> None:
        """Receive the account's key-value store (a session, a learned limit); unused here."""

    def attach_networks(self, networks: tuple[Network, ...]) -> None:
        """Receive ``http.allow_networks``, for the downloads of images named by feeds."""
        self.allow_networks = networks

    def delete(self, sent: SentPost) -> Removal:
        """Refused: this network (or plugin) cannot take a post back."""
        raise RejectedError(sent.account, "this network cannot delete posts")

    def edit(self, sent: SentPost, text: str) -> None:
        """Refused: this network (or plugin) cannot edit a post."""
        raise RejectedError(sent.account, "this network cannot edit posts")


class PublisherBase(Capabilities):
    """A built-in client: it renders through its ``writer``."""

    writer: Writer

    def render(self, item: Item, spec: PostSpec) -> Post:
        return self.writer.render(item, spec)


class MemoryState:
    """An account store in memory, for a client used before (or without) the runtime's
    stored state (previews, one-off commands): forgotten at exit."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self._values.get(key)

    def set(self, key: str, value: str | None) -> None:
        if value is None:
            self._values.pop(key, None)
        else:
            self._values[key] = value
