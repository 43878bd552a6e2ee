"""Publisher plugins: one module per network, all found through entry points.

The built-in publishers register in the ``autoposter.publishers`` entry-point
group exactly as a third-party package would, and are looked up by the
``type:`` of an account block. A publisher class is built with keyword-only
arguments: ``name`` (the account's name) and one per option of its block, so
its ``__init__`` signature is the list of keys that block accepts.
"""

from __future__ import annotations

import inspect
from collections.abc import Collection, Mapping
from importlib.metadata import entry_points
from typing import Any

from autoposter.errors import ConfigError, PluginError
from autoposter.types import Publisher

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
        found[ep.name] = cls
        origins[ep.name] = ep.value
    return found


def options_of(cls: type[Publisher]) -> tuple[set[str], set[str]]:
    """(required, optional) option names a publisher class accepts, ``name`` excluded."""
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
    for key in sorted(required - set(options)):
        raise ConfigError(f"accounts.{name}.{key}", f"required for type {kind!r}")
    try:
        return cls(name=name, **options)  # type: ignore[call-arg]
    except (TypeError, ValueError) as e:
        raise ConfigError(f"accounts.{name}", str(e)) from e
