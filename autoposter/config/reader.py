"""Checking values where they sit in one file: the ``Reader`` of one configuration.

A ``Reader`` knows what a bare value cannot tell: the file's directory (for
relative paths), the base-60 numbers YAML found in it (to say so instead of
polling every 90 seconds), the time zone, and the secrets met so far (so that
no message quotes one). Each check takes the value and its key path and
returns the value in its final type, or raises ``ConfigError(key, ...)``.

Sections whose keys are plain data are declared as tables of ``Field``s
(a key, the attribute it sets, its check) and read with ``Reader.fields``.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from autoposter import render
from autoposter.config.fields import (
    EMAIL,
    LANGUAGE,
    NAME,
    describe,
    human_duration,
    index,
    join,
    parse_duration,
    parse_size,
    quote_hint,
    show,
    yaml_text,
)
from autoposter.config.loader import read_secret_file
from autoposter.config.model import DEFAULT_TIMEZONE, SECRET_KEY
from autoposter.errors import ConfigError

__all__ = ["Check", "Field", "Reader", "duration", "number"]

_T = TypeVar("_T")
Check = Callable[["Reader", object, str], Any]


@dataclass(frozen=True, slots=True)
class Field:
    """One key of a section: the dataclass attribute it sets and the check of its value."""

    attribute: str
    check: Check


def duration(minimum: float, maximum: float | None = None, *, exclusive: bool = False) -> Check:
    """The check of a duration key: seconds from ``minimum`` (excluded if ``exclusive``)."""
    return lambda reader, value, key: reader.duration(
        value, key, minimum, maximum, exclusive=exclusive
    )


def number(what: str, *, minimum: int, optional: bool = False) -> Check:
    """The check of a whole-number key; with ``optional``, an empty value means "no limit"."""

    def check(reader: Reader, value: object, key: str) -> int | None:
        if optional and value is None:
            return None
        return reader.integer(value, key, what, minimum=minimum)

    return check


class Reader:
    """One pass over one configuration; collects secrets as it goes."""

    def __init__(
        self, base_dir: Path, environ: Mapping[str, str], sexagesimal: Mapping[str, str]
    ) -> None:
        self.base_dir = base_dir
        self.environ = environ
        self.sexagesimal = sexagesimal
        self.secrets: set[str] = set()
        self.secret_files: list[Path] = []
        self.tz = zoneinfo.ZoneInfo(DEFAULT_TIMEZONE)
        # Not None for a read-only use: where the unset ${VAR} secrets are noted.
        self.deferred: list[str] | None = None

    def fields(
        self, block: Mapping[str, Any], path: str, table: Mapping[str, Field], base: _T
    ) -> _T:
        """``base`` (a dataclass) with the attributes of the ``table`` keys present in
        ``block`` replaced by their checked values, in the table's order."""
        changes = {
            field.attribute: field.check(self, block[key], join(path, key))
            for key, field in table.items()
            if key in block
        }
        return dataclasses.replace(base, **changes)  # type: ignore[type-var]

    # --- secrets

    def secret(self, value: str) -> str:
        self.secrets.add(value)
        return value

    def secret_file(self, value: object, key: str) -> str:
        name = self.string(value, key, "the path of a file holding the value")
        file_path, text = read_secret_file(self.base_dir, name, key)
        self.secret_files.append(file_path)
        return self.secret(text)

    def file_secrets(self, block: dict[str, Any], path: str, keys: tuple[str, ...]) -> None:
        """Replace each ``<key>_file`` of ``keys`` in ``block`` by ``<key>`` and the file's text."""
        for key in keys:
            if f"{key}_file" not in block:
                continue
            if key in block:
                raise ConfigError(
                    join(path, f"{key}_file"), f"give either '{key}' or '{key}_file', not both"
                )
            block[key] = self.secret_file(block.pop(f"{key}_file"), join(path, f"{key}_file"))

    def collect_secrets(self, value: object, key: str | None) -> None:
        """Note every string under a secret-looking key of ``value``."""
        if isinstance(value, dict):
            for name, item in value.items():
                # A `<key>_file` value is a path; the secret is what the file holds.
                if not str(name).endswith("_file"):
                    self.collect_secrets(item, str(name))
        elif isinstance(value, list):
            for item in value:
                self.collect_secrets(item, key)
        elif isinstance(value, str) and value.strip() and key and SECRET_KEY.search(key):
            self.secrets.add(value)

    def redacted(self, error: ConfigError) -> ConfigError:
        """``error`` with every secret of the file taken out of its message."""
        # Safety net: a value quoted back in a message (a time zone, a URL
        # scheme...) might be a secret used elsewhere in the file.
        message = error.message
        # As in the logs: values under 4 characters are no credential, and
        # replacing them would mangle every message.
        for secret in sorted(self.secrets, key=len, reverse=True):
            if len(secret) >= 4:
                message = message.replace(secret, "[redacted]")
        return error if message == error.message else ConfigError(error.path, message)

    # --- plain values

    def string(self, value: object, key: str, what: str) -> str:
        if isinstance(value, str):
            if not value.strip():
                raise ConfigError(key, f"expected {what}, got an empty string")
            return value
        raise ConfigError(key, f"expected {what}, got {self.describe_at(value, key)}")

    def strings(self, value: object, key: str, what: str, example: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            raise ConfigError(
                key, f"expected {what}, got a string; even a single one goes in brackets: {example}"
            )
        if not isinstance(value, list):
            raise ConfigError(key, f"expected {what}, got {self.describe_at(value, key)}")
        return tuple(self.string(item, index(key, i), "a string") for i, item in enumerate(value))

    def integer(self, value: object, key: str, what: str, *, minimum: int) -> int:
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())  # from ${VAR}, which always yields text
        if isinstance(value, bool) or not isinstance(value, int):
            got = self.describe_at(value, key, text_expected=False)
            raise ConfigError(key, f"expected {what}, got {got}")
        if value < minimum:
            raise ConfigError(key, f"expected {what}, got {value}")
        return value

    def boolean(self, value: object, key: str) -> bool:
        if isinstance(value, bool):
            return value
        # ${VAR} always yields text; take the words YAML itself reads as booleans.
        if isinstance(value, str):
            word = value.strip().lower()
            if word in ("true", "yes", "on"):
                return True
            if word in ("false", "no", "off"):
                return False
        got = self.describe_at(value, key, text_expected=False)
        raise ConfigError(key, f"expected true or false, got {got}")

    def name(self, value: object, key: str, kind: str) -> str:
        if isinstance(value, str) and NAME.fullmatch(value):
            return value
        got = show(value) if isinstance(value, str) else self.describe_at(value, key)
        raise ConfigError(
            key,
            f"{kind} names must be 1 to 64 lower-case letters, digits, '_' or '-', "
            f"starting with a letter or digit (they appear in logs and commands); got {got}",
        )

    def mapping(self, value: object, key: str, what: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ConfigError(key, f"expected a mapping of {what}, got {describe(value)}")
        for name in value:
            if not isinstance(name, str):
                raise ConfigError(
                    join(key, yaml_text(name)),
                    f"expected a key name, got {describe(name)}{quote_hint(name)}",
                )
        return value

    def optional_mapping(self, value: object, key: str, what: str) -> dict[str, Any]:
        # A section with every line commented out reads as null: same as absent.
        return {} if value is None else self.mapping(value, key, what)

    def describe_at(self, value: object, key: str, *, text_expected: bool = True) -> str:
        if key in self.sexagesimal:
            return (
                f"the number {value} (YAML reads {self.sexagesimal[key]} as a base-60 number; "
                "put the value in quotes)"
            )
        return f"{describe(value)}{quote_hint(value) if text_expected else ''}"

    def sexagesimal_error(self, key: str, value: object, expected: str) -> ConfigError:
        raw = self.sexagesimal[key]
        return ConfigError(
            key,
            f"YAML reads {raw} as the base-60 number {value}; write {expected}, "
            "or put the value in quotes",
        )

    # --- quantities

    def duration(
        self,
        value: object,
        key: str,
        minimum: float,
        maximum: float | None,
        *,
        exclusive: bool = False,
    ) -> float:
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and key in self.sexagesimal
        ):
            raise self.sexagesimal_error(key, value, "a duration with units, such as 90s or 1h30m")
        seconds = parse_duration(value, key)
        if exclusive and seconds <= minimum:
            raise ConfigError(key, f"must be more than {human_duration(minimum)}")
        if seconds < minimum:
            raise ConfigError(
                key,
                f"must be at least {human_duration(minimum)}, got {human_duration(seconds)}",
            )
        if maximum is not None and seconds > maximum:
            raise ConfigError(
                key,
                f"must be at most {human_duration(maximum)}, got {human_duration(seconds)}",
            )
        return seconds

    def max_bytes(self, value: object, key: str) -> int:
        if isinstance(value, int) and not isinstance(value, bool) and key in self.sexagesimal:
            raise self.sexagesimal_error(key, value, "a size such as 10MB")
        size = parse_size(value, key)
        if size < 1:
            raise ConfigError(key, "must be at least 1 byte")
        return size

    # --- words and addresses

    def template(self, value: object, key: str) -> str:
        text = self.string(value, key, 'a template such as "{title}\\n\\n{link}"')
        problem = render.template_problem(text)
        if problem is not None:
            raise ConfigError(key, problem)
        return text

    def language(self, value: object, key: str) -> str:
        text = self.string(value, key, "a language code such as fr, en or pt-BR")
        if not LANGUAGE.fullmatch(text):
            raise ConfigError(
                key, f"expected a language code such as fr, en or pt-BR, got {show(text)}"
            )
        return text

    def timezone(self, value: object, key: str) -> str:
        name = self.string(value, key, "a time zone name such as Europe/Paris or UTC")
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            raise ConfigError(
                key,
                f"unknown time zone {show(name)}; expected an IANA name such as "
                "Europe/Paris, America/Montreal or UTC",
            ) from None
        return name

    def emails(self, value: object, path: str, example: str) -> tuple[str, ...]:
        addresses = self.strings(value, path, "a list of e-mail addresses", example)
        for i, address in enumerate(addresses):
            if not EMAIL.fullmatch(address):
                raise ConfigError(index(path, i), f"not an e-mail address: {show(address)}")
        return addresses

    def names(self, value: object, key: str, defined: Mapping[str, object]) -> tuple[str, ...]:
        """A non-empty list of account names, each one of ``defined``, none twice."""
        names = self.strings(value, key, "a list of account names", "[ville_mastodon]")
        if not names:
            raise ConfigError(key, "expected at least one account name; the list is empty")
        known = ", ".join(sorted(defined)) if defined else "none"
        for i, account in enumerate(names):
            if account not in defined:
                close = difflib.get_close_matches(account, list(defined), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise ConfigError(
                    index(key, i),
                    f"unknown account {show(account)} (accounts defined: {known}){hint}",
                )
            if account in names[:i]:
                raise ConfigError(index(key, i), f"account '{account}' is listed twice")
        return names

    def feed_url(self, value: object, key: str) -> str:
        """An http(s) URL, or a ``file:`` URL made absolute from the config file's directory."""
        expected = (
            "feeds must be http(s) URLs or file: URLs, "
            "e.g. https://www.example.org/feed or file:demo/feed.xml"
        )
        text = self.string(value, key, "a feed URL such as https://www.example.org/feed").strip()
        try:
            parts = urlsplit(text)
        except ValueError:
            raise ConfigError(key, f"not a valid URL; {expected}") from None
        scheme = parts.scheme.lower()
        if scheme in ("http", "https"):
            if not parts.hostname or any(c.isspace() for c in text):
                raise ConfigError(key, f"not a valid {scheme} URL (no host name, or a space)")
            return text
        if scheme == "file":
            if parts.netloc not in ("", "localhost") or not parts.path:
                raise ConfigError(
                    key,
                    "a file: URL must name a file on this machine, "
                    "e.g. file:demo/feed.xml or file:///srv/feeds/feed.xml",
                )
            # Relative to the config file, like every other path in it.
            file_path = self.base_dir / unquote(parts.path)
            return Path(os.path.normpath(file_path)).as_uri()
        if not scheme:
            first = text.split("/", 1)[0]
            hint = "; add https:// in front" if "." in first and " " not in first else ""
            raise ConfigError(
                key, f"this has no scheme (http://, https:// or file:){hint}; {expected}"
            )
        raise ConfigError(key, f"'{scheme}:' URLs are not supported; {expected}")
