"""Publisher plugins: one module per network, all found through entry points.

The built-in publishers register in the ``autoposter.publishers`` entry-point
group exactly as a third-party package would, and are looked up by the
``type:`` of an account block. A publisher class is built with keyword-only
arguments: ``name`` (the account's name) and one per option of its block, so
its ``__init__`` signature is the list of keys that block accepts.

A new network goes in one file, ``publishers/<network>.py``, holding its two
halves (see ``_base``): the *writer*, a ``Writer`` subclass that is pure (its
limits, length counting, card and image choice; it imports no SDK and no HTTP
library, and overrides only the hooks where it differs from the shared
rendering), and the *client*, a ``PublisherBase`` subclass naming its writer
in ``writer_type``, which makes the network calls through one SDK or raw HTTP.
The SDK is imported inside the client only (types under ``TYPE_CHECKING``), so
that ``writer_for`` can render without it. Errors go through ``_http``, the
one HTTP error boundary, with the network's own special cases on top. Then:
the entry point in ``pyproject.toml``, a double of the network's API in
``tests/fakes/``, and a row in README's table of networks.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Mapping
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from autoposter.errors import ConfigError, PluginError
from autoposter.types import AccountStore, Publisher, Writer

if TYPE_CHECKING:
    from autoposter.config import Config

GROUP = "autoposter.publishers"


def installed() -> list[str]:
    """The registered publisher kinds, without importing any of them."""
    return sorted({ep.name for ep in entry_points(group=GROUP)})


def available(kinds: Collection[str] | None = None) -> dict[str, type[Publisher]]:
    """Registered publisher classes by kind (only ``kinds``, when given); a kind registered
    twice is an error.

    Only the kinds asked for are imported: each network's SDK costs tens of megabytes
    of memory, and a daemon posting to two networks has no use for the other five.
    """
    found: dict[str, type[Publisher]] = {}
    origins: dict[str, str] = {}
    for ep in entry_points(group=GROUP):
        if ep.name in origins and origins[ep.name] != ep.value:
            raise PluginError(
                f"publisher type {ep.name!r} is registered twice: by {origins[ep.name]} "
                f"and by {ep.value}"
            )
        if ep.name in found or (kinds is not None and ep.name not in kinds):
            origins.setdefault(ep.name, ep.value)
            continue
        try:
            cls = ep.load()
        except Exception as e:
            raise PluginError(
                f"publisher type {ep.name!r} ({ep.value}) cannot be loaded: {e}"
            ) from e
        if getattr(cls, "kind", None) != ep.name:
            raise PluginError(
                f"publisher {ep.value} is registered as {ep.name!r} but says its kind is "
                f"{getattr(cls, 'kind', None)!r}"
            )
        found[ep.name] = _with_capabilities(cls)
        origins[ep.name] = ep.value
    return found


def _with_capabilities(cls: type[Publisher]) -> type[Publisher]:
    """``cls``, or when it leaves out a capability of ``Publisher`` (a plain plugin
    class), a subclass taking the missing ones from ``Capabilities``'s defaults."""
    from autoposter.publishers._base import Capabilities

    if all(
        hasattr(cls, name)
        for name in (
            "can_find",
            "can_delete",
            "can_edit",
            "writer_type",
            "attach_state",
            "attach_networks",
            "delete",
            "edit",
        )
    ):
        return cls
    return type(cls.__name__, (cls, Capabilities), {"__module__": cls.__module__})


def options_of(cls: type[Publisher] | type[Writer]) -> tuple[set[str], set[str]]:
    """(required, optional) option names a publisher or writer class accepts, ``name``
    excluded."""
    required: set[str] = set()
    optional: set[str] = set()
    for param in inspect.signature(cls.__init__).parameters.values():
        if param.kind is not inspect.Parameter.KEYWORD_ONLY or param.name == "name":
            continue
        (required if param.default is inspect.Parameter.empty else optional).add(param.name)
    return required, optional


def build(
    name: str,
    kind: str,
    options: Mapping[str, Any],
    registry: Mapping[str, type[Publisher]],
) -> Publisher:
    """Construct the publisher for one account block, or say which key is wrong."""
    cls = _checked(name, kind, options, registry, required_from=None)
    try:
        return cls(name=name, **options)  # type: ignore[call-arg]
    except (TypeError, ValueError) as e:
        raise ConfigError(f"accounts.{name}", str(e)) from e


def build_all(
    config: Config, *, state_for: Callable[[str], AccountStore] | None = None
) -> dict[str, Publisher]:
    """One publisher per account block; raises ConfigError naming the key at fault.

    Each publisher gets ``http.allow_networks`` through ``attach_networks`` and, when
    ``state_for`` is given, its account's key-value store through ``attach_state`` (a
    session kept across restarts).
    """
    registry = available({account.type for account in config.accounts.values()})
    built: dict[str, Publisher] = {}
    try:
        for name, account in config.accounts.items():
            publisher = build(name, account.type, account.options, registry)
            built[name] = publisher
            if state_for is not None:
                publisher.attach_state(state_for(name))
            publisher.attach_networks(config.allow_networks)
    except BaseException:
        for publisher in built.values():
            publisher.close()
        raise
    return built


def writers_for(config: Config) -> dict[str, Writer]:
    """Every account's pure writer (see ``writer_for``), for rendering with no secret."""
    registry = available({account.type for account in config.accounts.values()})
    return {
        name: writer_for(name, account.type, account.options, registry)
        for name, account in config.accounts.items()
    }


def writer_for(
    name: str,
    kind: str,
    options: Mapping[str, Any],
    registry: Mapping[str, type[Publisher]] | None = None,
) -> Writer:
    """The pure writer of one account block: renders as the account would, with no
    client built and no SDK imported, so it needs no secret (previews, the queue, the
    web console). Option names are checked as ``build`` checks them; the options a
    writer does not take (credentials, api_url, timeout) are left out.

    ``registry`` defaults to the installed publishers of type ``kind``. Raises
    ConfigError for a wrong key or value, PluginError when the type has no writer.
    """
    if registry is None:
        registry = available({kind})
    cls = registry.get(kind)
    writer_type = cls.writer_type if cls is not None else None
    _checked(name, kind, options, registry, required_from=writer_type)
    if writer_type is None:
        raise PluginError(f"publisher type {kind!r} has no writer: it cannot render on its own")
    wanted = set().union(*options_of(writer_type))
    try:
        return writer_type(  # type: ignore[call-arg]
            name=name, **{key: value for key, value in options.items() if key in wanted}
        )
    except (TypeError, ValueError) as e:
        raise ConfigError(f"accounts.{name}", str(e)) from e


def _checked(
    name: str,
    kind: str,
    options: Mapping[str, Any],
    registry: Mapping[str, type[Publisher]],
    *,
    required_from: type[Writer] | None,
) -> type[Publisher]:
    """The class of ``kind``, once every option name is known to it and every required
    one (of ``required_from`` when given, else of the class) is there."""
    cls = registry.get(kind)
    if cls is None:
        known = ", ".join(installed()) or "none installed"
        raise ConfigError(f"accounts.{name}.type", f"unknown type {kind!r} (known: {known})")
    required, optional = options_of(cls)
    for key in options:
        if key not in required | optional:
            allowed = ", ".join(sorted(required | optional)) or "none"
            raise ConfigError(
                f"accounts.{name}.{key}",
                f"unknown option for type {kind!r} (allowed: {allowed})",
            )
    if required_from is not None:
        required = options_of(required_from)[0]
    for key in sorted(required - set(options)):
        raise ConfigError(f"accounts.{name}.{key}", f"required for type {kind!r}")
    return cls
