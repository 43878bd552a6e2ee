"""The one grammar of configuration values: durations, sizes, names, and how a value is
described back to the person who wrote it.

Pure functions of their arguments. ``parse_duration`` is the only duration
parser of autoposter: the configuration and the publishers' options read
``90s``, ``1h30m``, ``250ms`` and ``1d`` alike, and refuse
a bare number other than 0. Everything that depends on the
file being read (its directory, the base-60 numbers YAML found in it, the
secrets met so far) is ``reader.Reader``'s.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from autoposter.errors import ConfigError

__all__ = [
    "check_keys",
    "describe",
    "freeze",
    "human_duration",
    "index",
    "join",
    "parse_duration",
    "parse_size",
    "quote_hint",
    "show",
    "yaml_text",
]

# Names appear in logs, CLI arguments and metric labels, hence the narrow alphabet.
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")
QUIET = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-3]):([0-5]\d)")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
DIGEST = re.compile(r"(?:daily\s+([01]?\d|2[0-3]):([0-5]\d)|hourly)")

_AMOUNT = r"(?:\d+(?:\.\d+)?|\.\d+)"
# "ms" before "m": "250ms" is a quarter of a second, not 250 minutes and a stray "s".
_DURATION = re.compile(rf"(?:{_AMOUNT}\s*(?:ms|[dhms])\s*)+", re.IGNORECASE)
_DURATION_PART = re.compile(rf"({_AMOUNT})\s*(ms|[dhms])", re.IGNORECASE)
_DURATION_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_NUMBER = re.compile(_AMOUNT)


def parse_duration(value: object, key: str) -> float:
    """``"30s"``, ``"5m"``, ``"1h"``, ``"1d"``, ``"1h30m"``, ``"250ms"`` or ``0`` -> seconds.

    A bare number other than zero is refused, whether YAML read it as a number
    or ``${VAR}`` gave it as text: ``poll_interval: 10`` reads as ten seconds to
    one person and ten minutes to another, so the unit must be written. Raises
    ``ConfigError(key, ...)`` for that, anything else, or a negative value.
    """
    expected = "expected a duration such as 30s, 5m, 1h or 1h30m"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(key, f"{expected}, got {describe(value)}")
    text = value.strip() if isinstance(value, str) else str(value)
    if isinstance(value, int | float) or _NUMBER.fullmatch(text.lstrip("-")):
        try:
            number = float(value)
        except (ValueError, OverflowError):
            number = math.inf
        if number == 0:
            return 0.0  # zero needs no unit
        if number < 0 or not math.isfinite(number):
            raise ConfigError(key, f"{expected}, got {show(value)}")
        raise ConfigError(key, f"write {text}s, {text}m or {text}h (a bare number has no unit)")
    if not _DURATION.fullmatch(text):
        raise ConfigError(key, f"{expected}, got {show(value)}")
    seconds = sum(
        float(number) * _DURATION_UNITS[unit.lower()]
        for number, unit in _DURATION_PART.findall(text)
    )
    if not math.isfinite(seconds):
        raise ConfigError(key, f"{expected}, got {show(value)}")
    return seconds


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(?:([KMG])i?B?|B)?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_size(value: object, key: str) -> int:
    """``10485760``, ``"512KB"``, ``"10MB"``, ``"1GB"`` -> bytes (1 KB = 1024 bytes).

    Raises ``ConfigError(key, ...)`` for anything else.
    """
    expected = "expected a size such as 512KB, 10MB or 1GB, or a number of bytes"
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigError(key, f"{expected}, got {describe(value)}")
    if isinstance(value, int):
        size = value
    else:
        match = _SIZE.fullmatch(value.strip())
        if match is None:
            raise ConfigError(key, f"{expected}, got {show(value)}")
        number, unit = match.groups()
        scaled = float(number) * _SIZE_UNITS[(unit or "").lower()]
        if not math.isfinite(scaled):
            raise ConfigError(key, f"{expected}, got {show(value)}")
        size = int(scaled)
    if size < 0:
        raise ConfigError(key, f"{expected}, got {show(value)}")
    return size


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def index(path: str, index: int) -> str:
    return f"{path}[{index}]"


def check_keys(block: Mapping[str, Any], path: str, allowed: Sequence[str]) -> None:
    for key in block:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(
                join(path, key), f"unknown key{hint}; allowed keys: {', '.join(allowed)}"
            )


def freeze(value: Any) -> Any:
    """A read-only copy: mappings become MappingProxyType, lists tuples, sets frozensets."""
    if isinstance(value, dict):
        return MappingProxyType({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(freeze(item) for item in value)
    if isinstance(value, set):
        return frozenset(value)
    return value


def describe(value: object) -> str:
    """What YAML made of a value, in the words of someone who wrote the file."""
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, bytes):
        return "binary data"
    if hasattr(value, "isoformat"):
        return f"a date ({value})"
    return f"a {type(value).__name__}"


def quote_hint(value: object) -> str:
    if isinstance(value, bool):
        return (
            "; YAML reads unquoted yes, no, on, off, true and false as booleans, "
            "so put the value in quotes"
        )
    if isinstance(value, int | float) or hasattr(value, "isoformat"):
        return "; put the value in quotes if you meant text"
    return ""


def yaml_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def show(value: object) -> str:
    text = str(value)
    return repr(text if len(text) <= 60 else text[:57] + "...")


def human_duration(seconds: float) -> str:
    if seconds != int(seconds) or seconds < 1:
        return f"{seconds:g}s"
    rest = int(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts) or "0s"
