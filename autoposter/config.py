"""The configuration file: YAML + ``${ENV}`` + ``*_file`` secrets -> a frozen ``Config``.

Contract with the people who write the file (a communication officer, a
part-time IT person): every mistake is a ``ConfigError`` whose ``path`` names
the key at fault (``feeds.actualites.accounts[1]``) and whose message says
what was expected, in plain words. No YAML or Python exception escapes
``load_config`` or ``parse_config``, and no secret value ever appears in an
error message.

Reading happens in three passes, each simple on its own:

1. YAML -> Python with ``yaml.safe_load`` semantics, except that a duplicated
   key is an error (a feed silently replacing another is a classic trap);
2. ``${VAR}``, ``${VAR:-default}`` and ``$$`` are replaced in every string
   value, after YAML parsing, so an environment value can never break the YAML;
3. each section is checked and turned into the dataclasses below.

Account blocks are the one place where unknown keys are allowed: their
options belong to the publisher plugin, which checks them itself.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import os
import re
import string
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus, unquote, urlsplit

import yaml
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from autoposter.errors import ConfigError
from autoposter.policy import (
    DEFAULT_RECONCILE_AFTER,
    Blackout,
    DeliveryPolicy,
    QuietHours,
    Window,
)

__all__ = [
    "DEFAULT_TEMPLATE",
    "TEMPLATE_FIELDS",
    "AccountConfig",
    "Config",
    "FeedConfig",
    "Filter",
    "WatchConfig",
    "WatchSettings",
    "WatchSourceConfig",
    "load_config",
    "parse_config",
    "parse_duration",
    "parse_size",
    "resolve_config_path",
]

DEFAULT_TEMPLATE = "{title}\n\n{link}"
DEFAULT_DATABASE = "sqlite:///autoposter.db"
DEFAULT_TIMEZONE = "UTC"
DEFAULT_DISPATCH_INTERVAL = 30.0
DEFAULT_POLL_INTERVAL = 300.0
DEFAULT_LANGUAGE = "en"
DEFAULT_BURST_LIMIT = 5
DEFAULT_TIMEOUT = 20.0
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
CONFIG_FILE_NAME = "autoposter.yaml"
CONFIG_ENV_VAR = "AUTOPOSTER_CONFIG"
# The health and metrics listener, when the `http:` block is present.
DEFAULT_HTTP_LISTEN = "127.0.0.1:8787"

# The same list as render.TEMPLATE_FIELDS (a test keeps them equal); config
# does not import render so that reading the config pulls in no stage.
TEMPLATE_FIELDS = ("title", "link", "summary", "hashtags", "feed", "author", "categories")

MIN_POLL_INTERVAL = 10.0
MAX_POLL_INTERVAL = 86400.0
MIN_DISPATCH_INTERVAL = 1.0

# Names appear in logs, CLI arguments and metric labels, hence the narrow alphabet.
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")
_SECRET_KEY = re.compile(r"token|password|secret|_key$|^key$", re.IGNORECASE)

_TOP_KEYS = (
    "database",
    "database_file",
    "timezone",
    "dispatch_interval",
    "user_agent",
    "defaults",
    "accounts",
    "feeds",
    "delivery",
    "smtp",
    "alerts",
    "http",
    "watch",
)
# Keys of the delivery engine, accepted in `delivery:` and in every account block
# (where they are taken out before the publisher sees its options).
_POLICY_KEYS = (
    "min_interval",
    "max_per_hour",
    "max_per_day",
    "quiet_hours",
    "blackout",
    "approval",
    "max_attempts",
    "give_up_after",
    "retry_delay",
)
_DELIVERY_KEYS = (*_POLICY_KEYS, "reconcile_after")
_SMTP_KEYS = ("host", "port", "security", "username", "password", "from", "timeout")
_ALERT_KEYS = ("email", "webhook", "feed_failing_after")
_HTTP_KEYS = ("listen", "allow_networks")
_WEBHOOK_KEYS = ("url", "secret")
_QUIET = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-3]):([0-5]\d)")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_SETTING_KEYS = (
    "poll_interval",
    "language",
    "template",
    "hashtags",
    "burst_limit",
    "timeout",
    "max_bytes",
)
_FEED_KEYS = (
    "url",
    "accounts",
    *_SETTING_KEYS,
    "include",
    "exclude",
    "enabled",
    "quiet_hours",
    "blackout",
    "approval",
    "urgent",
)
_FILTER_KEYS = ("categories", "keywords")
_WATCH_TOP_KEYS = ("retention", "webhook", "watches")
_WATCH_KEYS = (
    "keywords",
    "alert_keywords",
    "recipients",
    "digest",
    "send_empty",
    "alert_max_per_hour",
    "poll_interval",
    "sources",
)
# Per source type: the keys it accepts besides `type`, `timeout` and `max_bytes`.
WATCH_SOURCE_KEYS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "feed": ("url",),
        "bluesky": ("account", "api_url", "q", "domain", "mentions", "limit", "token"),
        "mastodon": ("api_url", "hashtag", "mentions", "q", "limit", "token"),
        "replies": ("accounts", "within", "api_url", "limit"),
    }
)
_DIGEST = re.compile(r"(?:daily\s+([01]?\d|2[0-3]):([0-5]\d)|hourly)")
DEFAULT_RETENTION = 90 * 86400.0
DEFAULT_WATCH_POLL_INTERVAL = 900.0
DEFAULT_ALERT_MAX_PER_HOUR = 3


@dataclass(frozen=True, slots=True)
class Filter:
    """Categories and keywords an item is matched against; empty means "no rule"."""

    categories: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        return not self.categories and not self.keywords


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """One social account: its publisher ``type`` and the rest of its block as ``options``.

    ``options`` is read-only all the way down (lists become tuples), with
    ``*_file`` secrets already read into their key and ``${VAR}`` resolved.
    """

    name: str
    type: str
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    policy: DeliveryPolicy = field(default_factory=DeliveryPolicy)

    def __repr__(self) -> str:
        # A config printed while debugging must not show the tokens in it.
        shown = {
            key: "[redacted]" if _SECRET_KEY.search(key) else value
            for key, value in self.options.items()
        }
        return f"AccountConfig(name={self.name!r}, type={self.type!r}, options={shown!r})"


@dataclass(frozen=True, slots=True)
class FeedConfig:
    """One feed and how its items are posted; durations in seconds, sizes in bytes.

    ``url`` is http(s), or an absolute ``file:///`` URL (the offline demo).
    """

    name: str
    url: str
    accounts: tuple[str, ...]
    poll_interval: float = DEFAULT_POLL_INTERVAL
    template: str = DEFAULT_TEMPLATE
    hashtags: tuple[str, ...] = ()
    language: str = DEFAULT_LANGUAGE
    include: Filter = Filter()
    exclude: Filter = Filter()
    burst_limit: int = DEFAULT_BURST_LIMIT
    timeout: float = DEFAULT_TIMEOUT
    max_bytes: int = DEFAULT_MAX_BYTES
    enabled: bool = True
    window: Window = field(default_factory=Window)
    approval: bool = False
    urgent: Filter = Filter()


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """How to send e-mail: alerts now, digests later."""

    host: str
    sender: str
    port: int = 587
    security: str = "starttls"  # starttls | tls | none
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 20.0


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    """Where operators are told that something needs them."""

    email: tuple[str, ...] = ()
    webhook_url: str | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    feed_failing_after: float = 86400.0


@dataclass(frozen=True, slots=True)
class WatchSourceConfig:
    """One place a watch looks: ``type`` is feed, bluesky, mastodon or replies.

    ``feed``: ``url`` (RSS/Atom, e.g. a Google Alert delivered as RSS).
    ``bluesky``: ``app.bsky.feed.searchPosts`` at ``api_url`` with ``q``,
    ``domain`` and/or ``mentions``; logged in as the bluesky account in
    ``accounts`` when the block names one (``account:``), at its PDS.
    ``mastodon``: at ``api_url``, the ``hashtag`` timeline, ``mentions``
    (notifications, needs ``token``) or a search ``q`` (needs ``token``).
    ``replies``: the replies under what the ``accounts`` (bluesky or mastodon
    ones) posted ``within`` that many seconds.
    """

    name: str
    type: str
    url: str | None = None
    api_url: str | None = None
    q: str | None = None
    domain: str | None = None
    mentions: str | None = None
    hashtag: str | None = None
    limit: int = 40
    token: str | None = field(default=None, repr=False)
    accounts: tuple[str, ...] = ()
    within: float = 7 * 86400.0
    timeout: float = DEFAULT_TIMEOUT
    max_bytes: int = DEFAULT_MAX_BYTES


@dataclass(frozen=True, slots=True)
class WatchConfig:
    """One named watch: where to look, what to highlight, whom to tell.

    ``digest`` is ``("daily", time)`` or ``("hourly", None)``, in the
    configuration's time zone.
    """

    name: str
    sources: tuple[WatchSourceConfig, ...]
    keywords: tuple[str, ...] = ()
    alert_keywords: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()
    digest: tuple[str, time | None] = ("daily", time(8, 0))
    send_empty: bool = False
    alert_max_per_hour: int = DEFAULT_ALERT_MAX_PER_HOUR
    poll_interval: float = DEFAULT_WATCH_POLL_INTERVAL


@dataclass(frozen=True, slots=True)
class WatchSettings:
    """The ``watch:`` section: the watches, how long personal data is kept, a webhook."""

    watches: Mapping[str, WatchConfig] = field(default_factory=lambda: MappingProxyType({}))
    retention: float = DEFAULT_RETENTION
    webhook_url: str | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Config:
    """The whole validated configuration.

    ``secrets`` holds every secret value met in the file, so logs can redact
    them. ``default_template`` and ``default_language`` are the ``defaults:``
    block's values, for items whose feed has since left the configuration.
    """

    path: Path | None = None
    database: str = DEFAULT_DATABASE
    timezone: str = DEFAULT_TIMEZONE
    dispatch_interval: float = DEFAULT_DISPATCH_INTERVAL
    user_agent: str | None = None
    accounts: Mapping[str, AccountConfig] = field(default_factory=lambda: MappingProxyType({}))
    feeds: Mapping[str, FeedConfig] = field(default_factory=lambda: MappingProxyType({}))
    secrets: frozenset[str] = field(default=frozenset(), repr=False)
    default_template: str = DEFAULT_TEMPLATE
    default_language: str = DEFAULT_LANGUAGE
    delivery: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    reconcile_after: float = DEFAULT_RECONCILE_AFTER
    smtp: SmtpConfig | None = None
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    # Running it as a service: the health/metrics listener (host, port), off when None;
    # the secrets written in the file itself (not read from a `_file` or the environment),
    # and the `_file` secret files read.
    http_listen: tuple[str, int] | None = None
    # Non-public networks that redirects and URLs from feed content may reach (fetch.py).
    allow_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    inline_secrets: frozenset[str] = field(default=frozenset(), repr=False)
    secret_files: tuple[Path, ...] = ()
    watch: WatchSettings = field(default_factory=WatchSettings)

    def policy(self, account: str) -> DeliveryPolicy:
        """The account's delivery rules; the defaults for an account no longer configured."""
        found = self.accounts.get(account)
        return found.policy if found is not None else self.delivery

    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


# --- public entry points -----------------------------------------------------


def resolve_config_path(explicit: str | None, environ: Mapping[str, str]) -> Path:
    """``--config`` if given, else ``$AUTOPOSTER_CONFIG``, else ``./autoposter.yaml``."""
    if explicit:
        return Path(explicit).expanduser()
    from_env = environ.get(CONFIG_ENV_VAR, "")
    if from_env:
        return Path(from_env).expanduser()
    return Path(CONFIG_FILE_NAME)


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read and check the file at ``path``; relative paths inside it are relative to its directory.

    Raises ConfigError for everything, including a missing file or bad YAML.
    """
    path = Path(path).absolute()
    data, sexagesimal = _read_yaml(path)
    parser = _Parser(path.parent, os.environ if environ is None else environ, sexagesimal)
    return parser.parse(data, path)


def parse_config(
    data: object, *, base_dir: Path, environ: Mapping[str, str], path: Path | None = None
) -> Config:
    """Check already-parsed YAML ``data``; relative paths in it are taken from ``base_dir``."""
    return _Parser(Path(base_dir).absolute(), environ, {}).parse(data, path)


_DURATION = re.compile(r"(?:\d+(?:\.\d+)?\s*[dhms]\s*)+", re.IGNORECASE)
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([dhms])", re.IGNORECASE)
_DURATION_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def parse_duration(value: object, key: str) -> float:
    """``"30s"``, ``"5m"``, ``"1h"``, ``"1d"``, ``"1h30m"`` or a number of seconds -> seconds.

    A string of digits counts as seconds, because ``${VAR}`` always yields
    strings. Raises ``ConfigError(key, ...)`` for anything else or a negative value.
    """
    expected = "expected a duration such as 30s, 5m, 1h or 1h30m, or a number of seconds"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(key, f"{expected}, got {_describe(value)}")
    if isinstance(value, str):
        text = value.strip()
        if _NUMBER.fullmatch(text):
            seconds = float(text)
        elif _DURATION.fullmatch(text):
            seconds = sum(
                float(number) * _DURATION_UNITS[unit.lower()]
                for number, unit in _DURATION_PART.findall(text)
            )
        else:
            raise ConfigError(key, f"{expected}, got {_show(value)}")
    else:
        try:
            seconds = float(value)
        except OverflowError:
            seconds = math.inf
    if not math.isfinite(seconds) or seconds < 0:
        raise ConfigError(key, f"{expected}, got {_show(value)}")
    return seconds


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(?:([KMG])i?B?|B)?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_size(value: object, key: str) -> int:
    """``10485760``, ``"512KB"``, ``"10MB"``, ``"1GB"`` -> bytes (1 KB = 1024 bytes).

    Raises ``ConfigError(key, ...)`` for anything else.
    """
    expected = "expected a size such as 512KB, 10MB or 1GB, or a number of bytes"
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigError(key, f"{expected}, got {_describe(value)}")
    if isinstance(value, int):
        size = value
    else:
        match = _SIZE.fullmatch(value.strip())
        if match is None:
            raise ConfigError(key, f"{expected}, got {_show(value)}")
        number, unit = match.groups()
        scaled = float(number) * _SIZE_UNITS[(unit or "").lower()]
        if not math.isfinite(scaled):
            raise ConfigError(key, f"{expected}, got {_show(value)}")
        size = int(scaled)
    if size < 0:
        raise ConfigError(key, f"{expected}, got {_show(value)}")
    return size


# --- YAML ----------------------------------------------------------------------

_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _StrictLoader(yaml.SafeLoader):
    """``safe_load`` that refuses duplicate keys and notes the base-60 numbers it read.

    YAML 1.1 reads an unquoted ``1:30`` as the number 90. Keeping the
    semantics of ``safe_load`` but remembering where that happened lets the
    checks say so, instead of silently polling every 90 seconds.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.sexagesimal: dict[str, str] = {}

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        self._inspect(node, "", set())
        return self.construct_document(node)

    def _inspect(self, node: yaml.Node, path: str, seen: set[int]) -> None:
        # Anchors make the node graph shared or even cyclic: visit each node once.
        if id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            lines: dict[str, int] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                    # Merged keys may be overridden, that is what `<<` is for.
                    self._inspect(value_node, path, seen)
                    continue
                key = str(key_node.value)
                child = _join(path, key)
                line = key_node.start_mark.line + 1
                if key in lines:
                    raise ConfigError(
                        child,
                        f"duplicate key '{key}' (lines {lines[key]} and {line}); "
                        "the second would silently replace the first",
                    )
                lines[key] = line
                self._inspect(value_node, child, seen)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._inspect(item, _index(path, index), seen)
        elif node.tag in (_INT_TAG, _FLOAT_TAG) and ":" in str(node.value):
            self.sexagesimal[path] = str(node.value)


def _read_yaml(path: Path) -> tuple[object, dict[str, str]]:
    """The file's YAML document and the base-60 numbers in it; ConfigError for any failure."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            "",
            f"config file not found: {path} "
            f"(give one with --config or ${CONFIG_ENV_VAR}, or create ./{CONFIG_FILE_NAME})",
        ) from None
    except IsADirectoryError:
        raise ConfigError("", f"{path} is a directory, not a config file") from None
    except OSError as e:
        raise ConfigError("", f"cannot read config file {path}: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(
            "", f"{path}: not UTF-8 text (bad byte at offset {e.start}); save it as UTF-8"
        ) from None
    loader: _StrictLoader | None = None
    try:
        loader = _StrictLoader(text)
        return loader.get_single_data(), loader.sexagesimal
    except yaml.MarkedYAMLError as e:
        raise ConfigError("", _yaml_message(path, e, text)) from None
    except yaml.YAMLError as e:
        # Reader errors (control characters) carry their position in the message.
        raise ConfigError("", f"{path}: not valid YAML: {e}") from None
    except RecursionError:
        raise ConfigError("", f"{path}: the YAML nests too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


def _yaml_message(path: Path, error: yaml.MarkedYAMLError, text: str) -> str:
    # Built from the parts rather than str(error), whose snippet of the line
    # could show a secret written in it.
    mark = error.problem_mark or error.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = error.problem or error.context or "not valid YAML"
    message = f"{path}: YAML syntax error{where}: {problem}"
    if error.context and error.problem and error.context_mark is not None:
        message += f" ({error.context} at line {error.context_mark.line + 1})"
    if "'\\t'" in problem:
        message += "; indent with spaces, not tabs"
    lines = text.splitlines()
    if mark and mark.line < len(lines) and "${" in lines[mark.line]:
        # `{type: x, token: ${T}}`: inside {...} or [...], YAML ends a value at '{'.
        message += '; inside {...} or [...], put quotes around a value with ${...}: "${VAR}"'
    return message


# --- ${VAR} interpolation --------------------------------------------------------

_REFERENCE = re.compile(r"\$(?:\$|\{([^}]*)\}|\{)")
_VARIABLE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)


def _interpolate(value: object, path: str, environ: Mapping[str, str], memo: dict[int, Any]) -> Any:
    """``value`` with ``${VAR}`` resolved in every string, keys left alone.

    ``memo`` makes anchored (shared) lists and mappings processed once and
    stay shared, so a file of aliases cannot blow up in size here.
    """
    if isinstance(value, str):
        return _interpolate_string(value, path, environ)
    if isinstance(value, list):
        if id(value) in memo:
            return memo[id(value)]
        items: list[Any] = []
        memo[id(value)] = items
        items.extend(
            _interpolate(item, _index(path, i), environ, memo) for i, item in enumerate(value)
        )
        return items
    if isinstance(value, dict):
        if id(value) in memo:
            return memo[id(value)]
        mapping: dict[Any, Any] = {}
        memo[id(value)] = mapping
        for key, item in value.items():
            mapping[key] = _interpolate(item, _join(path, str(key)), environ, memo)
        return mapping
    return value


def _interpolate_string(text: str, path: str, environ: Mapping[str, str]) -> str:
    if "$" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        body = match.group(1)
        # The reference text itself is not quoted back: it sits in a value
        # that may be a secret.
        if body is None:
            raise ConfigError(path, "'${' is not closed by '}' (write $$ for a literal '$')")
        variable = _VARIABLE.fullmatch(body)
        if variable is None:
            raise ConfigError(
                path,
                "bad variable reference: expected ${NAME} or ${NAME:-default}, NAME made of "
                "letters, digits and '_' (write $$ for a literal '$')",
            )
        name, default = variable.groups()
        found = environ.get(name, "")
        # As in the shell, ":-" also covers a variable that is set but empty.
        if found:
            return found
        if default is not None:
            return str(default)
        if name in environ:
            return ""
        raise ConfigError(
            path,
            f"environment variable {name} is not set "
            f"(set it, or write ${{{name}:-default}} to give a default)",
        )

    return _REFERENCE.sub(replace, text)


# --- checking ------------------------------------------------------------------

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class _Settings:
    """The per-feed settings that ``defaults:`` may set."""

    poll_interval: float = DEFAULT_POLL_INTERVAL
    language: str = DEFAULT_LANGUAGE
    template: str = DEFAULT_TEMPLATE
    hashtags: tuple[str, ...] = ()
    burst_limit: int = DEFAULT_BURST_LIMIT
    timeout: float = DEFAULT_TIMEOUT
    max_bytes: int = DEFAULT_MAX_BYTES


class _Parser:
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

    def parse(self, data: object, path: Path | None) -> Config:
        try:
            return self._service(self._config(data, path), data)
        except ConfigError as e:
            raise self._redacted(e) from None
        except RecursionError:
            raise ConfigError(
                "", "the configuration nests too deeply, or a YAML anchor refers to itself"
            ) from None

    def _redacted(self, error: ConfigError) -> ConfigError:
        # Safety net: a value quoted back in a message (a time zone, a URL
        # scheme...) might be a secret used elsewhere in the file.
        message = error.message
        # As in the logs: values under 4 characters are no credential, and
        # replacing them would mangle every message.
        for secret in sorted(self.secrets, key=len, reverse=True):
            if len(secret) >= 4:
                message = message.replace(secret, "[redacted]")
        return error if message == error.message else ConfigError(error.path, message)

    def _service(self, config: Config, raw: object) -> Config:
        """Add what running as a service needs: the ``http:`` listener, and which
        secrets the file itself holds (its permissions then matter)."""
        top = raw if isinstance(raw, dict) else {}
        http_listen = None
        networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        if top.get("http") is not None:
            block = self._mapping(
                _interpolate(top["http"], "http", self.environ, {}), "http", "'listen'"
            )
            _check_keys(block, "http", _HTTP_KEYS)
            # A block that only names networks does not turn the listener on.
            if "listen" in block or "allow_networks" not in block:
                http_listen = self._listen(block.get("listen", DEFAULT_HTTP_LISTEN), "http.listen")
            at, example = "http.allow_networks", "[10.20.0.0/16, 127.0.0.1/32]"
            for i, text in enumerate(
                self._strings(block.get("allow_networks"), at, "networks", example)
            ):
                try:
                    networks.append(ipaddress.ip_network(text.strip(), strict=False))
                except ValueError:
                    raise ConfigError(
                        _index(at, i), f"expected a network such as 10.20.0.0/16, got {text!r}"
                    ) from None
        leaves = [text for key, text in _string_leaves(top, None) if _holds_secrets(key)]
        inline = {
            secret
            for secret in self.secrets
            if any(form in leaf for leaf in leaves for form in _written_forms(secret))
        }
        return replace(
            config,
            http_listen=http_listen,
            allow_networks=tuple(networks),
            inline_secrets=frozenset(inline),
            secret_files=tuple(self.secret_files),
        )

    def _listen(self, value: object, key: str) -> tuple[str, int]:
        expected = "an address and port such as 127.0.0.1:8787, [::1]:8787 or 0.0.0.0:8787"
        if isinstance(value, int) and not isinstance(value, bool):
            host, port = "127.0.0.1", str(value)  # a bare port listens on this machine only
        else:
            text = self._string(value, key, expected).strip()
            host, colon, port = text.rpartition(":")
            if host.startswith("[") and host.endswith("]"):
                host = host[1:-1]
            elif ":" in host:
                raise ConfigError(key, "write an IPv6 address in brackets, e.g. [::1]:8787")
            if not colon or not host:
                raise ConfigError(key, f"expected {expected}, got {_show(text)}")
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ConfigError(key, f"the port must be a number from 1 to 65535, got {_show(port)}")
        return host, int(port)

    def _config(self, data: object, path: Path | None) -> Config:
        if data is None:
            data = {}
        top = self._mapping(data, "", "settings (key: value lines)")
        _check_keys(top, "", _TOP_KEYS)
        top = _interpolate(top, "", self.environ, {})

        # The sections holding secrets come first, so that any later message
        # quoting a value can be redacted.
        database = self._database(top)
        # Inline secrets are known before any value is checked, so that a message
        # quoting a value (a time zone, a URL) can be redacted.
        self._collect_secrets(top.get("accounts"), None)
        self._collect_secrets(top.get("smtp"), None)
        self._collect_secrets(top.get("alerts"), None)
        self._collect_secrets(top.get("watch"), None)
        timezone = self._timezone(top.get("timezone", DEFAULT_TIMEZONE), "timezone")
        self.tz = zoneinfo.ZoneInfo(timezone)
        delivery_block = self._optional_mapping(top.get("delivery"), "delivery", "settings")
        _check_keys(delivery_block, "delivery", _DELIVERY_KEYS)
        delivery = self._policy(delivery_block, "delivery", DeliveryPolicy())
        reconcile_after = DEFAULT_RECONCILE_AFTER
        if "reconcile_after" in delivery_block:
            reconcile_after = self._duration(
                delivery_block["reconcile_after"], "delivery.reconcile_after", 1.0, None
            )
        smtp = self._smtp(top.get("smtp"), "smtp")
        alerts = self._alerts(top.get("alerts"), "alerts", smtp)
        accounts_block = self._optional_mapping(
            top.get("accounts"), "accounts", "account names, each with its settings"
        )
        accounts = {
            name: self._account(name, block, delivery) for name, block in accounts_block.items()
        }

        dispatch_interval = DEFAULT_DISPATCH_INTERVAL
        if "dispatch_interval" in top:
            dispatch_interval = self._duration(
                top["dispatch_interval"], "dispatch_interval", MIN_DISPATCH_INTERVAL, None
            )
        user_agent = None
        if top.get("user_agent") is not None:
            user_agent = self._string(top["user_agent"], "user_agent", "a User-Agent string")

        defaults_block = self._optional_mapping(top.get("defaults"), "defaults", "settings")
        _check_keys(defaults_block, "defaults", _SETTING_KEYS)
        defaults = self._settings(defaults_block, "defaults", _Settings())

        feeds_block = self._optional_mapping(
            top.get("feeds"), "feeds", "feed names, each with its settings"
        )
        feeds = {
            name: self._feed(name, block, defaults, accounts) for name, block in feeds_block.items()
        }

        return Config(
            path=path,
            database=database,
            timezone=timezone,
            dispatch_interval=dispatch_interval,
            user_agent=user_agent,
            accounts=MappingProxyType(accounts),
            feeds=MappingProxyType(feeds),
            secrets=frozenset(self.secrets),
            default_template=defaults.template,
            default_language=defaults.language,
            delivery=delivery,
            reconcile_after=reconcile_after,
            smtp=smtp,
            alerts=alerts,
            watch=self._watch(top.get("watch"), "watch", smtp, accounts),
        )

    # --- sections

    def _database(self, top: dict[str, Any]) -> str:
        key = "database"
        if "database_file" in top:
            if "database" in top:
                raise ConfigError(
                    "database_file", "give either 'database' or 'database_file', not both"
                )
            key = "database_file"
            url = self._secret_file(top["database_file"], key)
        else:
            url = top.get("database", DEFAULT_DATABASE)
        expected = (
            "a database URL such as sqlite:///autoposter.db "
            "or postgresql+psycopg://user:password@host/autoposter"
        )
        url = self._string(url, key, expected).strip()
        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError):
            # The URL is not quoted back: it may hold a password.
            raise ConfigError(key, f"expected {expected}") from None
        if parsed.password:
            self.secrets.add(str(parsed.password))
        database = parsed.database
        if (
            parsed.get_backend_name() != "sqlite"
            or not database
            or database == ":memory:"
            or database.startswith("file:")
            or Path(database).is_absolute()
        ):
            return url
        # The daemon's working directory is wherever systemd or the shell left
        # it; the config file's directory is the one place the user can see.
        head, separator, query = url.partition("?")
        prefix_end = head.index(":///") + 4
        absolute = os.path.normpath(self.base_dir / head[prefix_end:])
        return f"{head[:prefix_end]}{absolute}{separator}{query}"

    def _timezone(self, value: object, key: str) -> str:
        name = self._string(value, key, "a time zone name such as Europe/Paris or UTC")
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            raise ConfigError(
                key,
                f"unknown time zone {_show(name)}; expected an IANA name such as "
                "Europe/Paris, America/Montreal or UTC",
            ) from None
        return name

    def _account(self, name: object, block: object, delivery: DeliveryPolicy) -> AccountConfig:
        path = _join("accounts", str(name))
        account = self._name(name, path, "account")
        block = self._mapping(block, path, "the account's settings, at least 'type'")
        options: dict[str, Any] = {}
        for key, value in block.items():
            target = key.removesuffix("_file")
            if key.endswith("_file") and target:
                if target in block:
                    raise ConfigError(
                        _join(path, key), f"give either '{target}' or '{key}', not both"
                    )
                options[target] = self._secret_file(value, _join(path, key))
            else:
                options[key] = value
        if "type" not in options:
            raise ConfigError(
                _join(path, "type"),
                "missing; say which kind of account this is, e.g. type: mastodon",
            )
        kind = self._string(
            options.pop("type"), _join(path, "type"), "an account type such as mastodon"
        )
        if kind == "webhook" and isinstance(options.get("url"), str):
            # Chat webhooks (Slack, Discord, Mattermost) carry their credential in the URL.
            self.secrets.add(options["url"])
        policy_block = {k: options.pop(k) for k in _POLICY_KEYS if k in options}
        policy = self._policy(policy_block, path, delivery)
        self._collect_secrets(options, None)
        return AccountConfig(name=account, type=kind, options=_freeze(options), policy=policy)

    def _feed(
        self,
        name: object,
        block: object,
        defaults: _Settings,
        accounts: Mapping[str, AccountConfig],
    ) -> FeedConfig:
        path = _join("feeds", str(name))
        feed = self._name(name, path, "feed")
        block = self._mapping(block, path, "the feed's settings, at least 'url' and 'accounts'")
        _check_keys(block, path, _FEED_KEYS)
        for required, what in (
            ("url", "the address of the feed, e.g. url: https://www.example.org/feed"),
            ("accounts", "the accounts to post to, e.g. accounts: [ville_mastodon]"),
        ):
            if required not in block:
                raise ConfigError(_join(path, required), f"missing; give {what}")
        settings = self._settings(block, path, defaults)
        enabled = True
        if "enabled" in block:
            enabled = self._bool(block["enabled"], _join(path, "enabled"))
        return FeedConfig(
            name=feed,
            url=self._feed_url(block["url"], _join(path, "url")),
            accounts=self._feed_accounts(block["accounts"], _join(path, "accounts"), accounts),
            poll_interval=settings.poll_interval,
            template=settings.template,
            hashtags=settings.hashtags,
            language=settings.language,
            include=self._filter(block.get("include"), _join(path, "include")),
            exclude=self._filter(block.get("exclude"), _join(path, "exclude")),
            burst_limit=settings.burst_limit,
            timeout=settings.timeout,
            max_bytes=settings.max_bytes,
            enabled=enabled,
            window=Window(
                quiet_hours=self._quiet_hours(block.get("quiet_hours"), _join(path, "quiet_hours")),
                blackouts=self._blackouts(block.get("blackout"), _join(path, "blackout")),
            ),
            approval=self._approval(block.get("approval"), _join(path, "approval")),
            urgent=self._filter(block.get("urgent"), _join(path, "urgent")),
        )

    def _settings(self, block: Mapping[str, Any], path: str, base: _Settings) -> _Settings:
        def pick(key: str, fallback: _T, check: Callable[[object, str], _T]) -> _T:
            return check(block[key], _join(path, key)) if key in block else fallback

        return _Settings(
            poll_interval=pick(
                "poll_interval",
                base.poll_interval,
                lambda v, k: self._duration(v, k, MIN_POLL_INTERVAL, MAX_POLL_INTERVAL),
            ),
            language=pick("language", base.language, self._language),
            template=pick("template", base.template, self._template),
            hashtags=pick(
                "hashtags",
                base.hashtags,
                lambda v, k: self._strings(v, k, "a list of hashtags", "[Ville, Culture]"),
            ),
            burst_limit=pick("burst_limit", base.burst_limit, self._burst_limit),
            timeout=pick(
                "timeout",
                base.timeout,
                lambda v, k: self._duration(v, k, 0.0, None, exclusive=True),
            ),
            max_bytes=pick("max_bytes", base.max_bytes, self._max_bytes),
        )

    def _feed_url(self, value: object, key: str) -> str:
        expected = (
            "feeds must be http(s) URLs or file: URLs, "
            "e.g. https://www.example.org/feed or file:demo/feed.xml"
        )
        text = self._string(value, key, "a feed URL such as https://www.example.org/feed").strip()
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

    def _feed_accounts(
        self, value: object, key: str, accounts: Mapping[str, AccountConfig]
    ) -> tuple[str, ...]:
        names = self._strings(value, key, "a list of account names", "[ville_mastodon]")
        if not names:
            raise ConfigError(key, "expected at least one account name; the list is empty")
        defined = ", ".join(sorted(accounts)) if accounts else "none"
        for index, account in enumerate(names):
            if account not in accounts:
                close = difflib.get_close_matches(account, list(accounts), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise ConfigError(
                    _index(key, index),
                    f"unknown account {_show(account)} (accounts defined: {defined}){hint}",
                )
            if account in names[:index]:
                raise ConfigError(_index(key, index), f"account '{account}' is listed twice")
        return names

    def _filter(self, value: object, path: str) -> Filter:
        block = self._optional_mapping(value, path, "'categories' and/or 'keywords'")
        _check_keys(block, path, _FILTER_KEYS)
        return Filter(
            categories=self._strings(
                block.get("categories"),
                _join(path, "categories"),
                "a list of categories",
                "[Culture, Sport]",
            ),
            keywords=self._strings(
                block.get("keywords"),
                _join(path, "keywords"),
                "a list of keywords",
                "[travaux, fermeture]",
            ),
        )

    def _policy(self, block: Mapping[str, Any], path: str, base: DeliveryPolicy) -> DeliveryPolicy:
        def limit(key: str, fallback: int | None) -> int | None:
            if key not in block:
                return fallback
            if block[key] is None:
                return None
            return self._int(block[key], _join(path, key), "a number of posts", minimum=1)

        min_interval = base.min_interval
        if "min_interval" in block:
            min_interval = self._duration(
                block["min_interval"], _join(path, "min_interval"), 0.0, None
            )
        give_up_after = base.give_up_after
        if "give_up_after" in block:
            give_up_after = self._duration(
                block["give_up_after"], _join(path, "give_up_after"), 60.0, None
            )
        return DeliveryPolicy(
            min_interval=min_interval,
            max_per_hour=limit("max_per_hour", base.max_per_hour),
            max_per_day=limit("max_per_day", base.max_per_day),
            quiet_hours=(
                self._quiet_hours(block["quiet_hours"], _join(path, "quiet_hours"))
                if "quiet_hours" in block
                else base.quiet_hours
            ),
            blackouts=(
                self._blackouts(block["blackout"], _join(path, "blackout"))
                if "blackout" in block
                else base.blackouts
            ),
            approval=(
                self._approval(block["approval"], _join(path, "approval"))
                if "approval" in block
                else base.approval
            ),
            max_attempts=(
                self._int(block["max_attempts"], _join(path, "max_attempts"), "a number", minimum=1)
                if "max_attempts" in block
                else base.max_attempts
            ),
            give_up_after=give_up_after,
            retry_delay=(
                self._duration(block["retry_delay"], _join(path, "retry_delay"), 1.0, None)
                if "retry_delay" in block
                else base.retry_delay
            ),
        )

    def _quiet_hours(self, value: object, key: str) -> QuietHours | None:
        if value is None:
            return None
        text = self._string(value, key, 'a daily window such as "22:00-07:00"')
        match = _QUIET.fullmatch(text.strip())
        if match is None:
            raise ConfigError(
                key, f'expected a daily window such as "22:00-07:00", got {_show(text)}'
            )
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        quiet = QuietHours(time(h1, m1), time(h2, m2))
        if quiet.start == quiet.end:
            raise ConfigError(key, "the window starts and ends at the same time")
        return quiet

    def _blackouts(self, value: object, key: str) -> tuple[Blackout, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise ConfigError(
                key, "expected a list of periods such as [{from: 2026-03-01, to: 2026-03-15}]"
            )
        periods = []
        for index, entry in enumerate(value):
            at = _index(key, index)
            block = self._mapping(entry, at, "'from', 'to' and optionally 'reason'")
            _check_keys(block, at, ("from", "to", "reason"))
            for needed in ("from", "to"):
                if needed not in block:
                    raise ConfigError(_join(at, needed), "missing; give a date such as 2026-03-01")
            start = self._moment(block["from"], _join(at, "from"), end=False)
            end = self._moment(block["to"], _join(at, "to"), end=True)
            if end <= start:
                raise ConfigError(_join(at, "to"), "the period ends before it starts")
            reason = ""
            if block.get("reason") is not None:
                reason = self._string(block["reason"], _join(at, "reason"), "a short text")
            periods.append(Blackout(start=start, end=end, reason=reason))
        return tuple(periods)

    def _moment(self, value: object, key: str, *, end: bool) -> datetime:
        """A date (the whole day, in the configured time zone) or a date and time."""
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, date):
            moment = datetime.combine(value + timedelta(days=1) if end else value, time())
        elif isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value.strip())
            except ValueError:
                raise ConfigError(
                    key,
                    f"expected a date such as 2026-03-01 or 2026-03-01 18:00, got {_show(value)}",
                ) from None
            if len(value.strip()) == 10:
                moment = moment + timedelta(days=1) if end else moment
        else:
            raise ConfigError(key, f"expected a date such as 2026-03-01, got {_describe(value)}")
        return moment.replace(tzinfo=self.tz) if moment.tzinfo is None else moment

    def _approval(self, value: object, key: str) -> bool:
        if value is None:
            return False
        if value in ("required", "none"):
            return value == "required"
        raise ConfigError(key, f"expected 'required' or 'none', got {_describe(value)}")

    def _smtp(self, value: object, path: str) -> SmtpConfig | None:
        if value is None:
            return None
        block = self._mapping(value, path, "the mail server's settings")
        if "password_file" in block:
            if "password" in block:
                raise ConfigError(
                    _join(path, "password_file"),
                    "give either 'password' or 'password_file', not both",
                )
            block["password"] = self._secret_file(
                block.pop("password_file"), _join(path, "password_file")
            )
        _check_keys(block, path, _SMTP_KEYS)
        for needed, example in (("host", "smtp.example.org"), ("from", "autoposter@example.org")):
            if needed not in block:
                raise ConfigError(_join(path, needed), f"missing; e.g. {needed}: {example}")
        password = None
        if block.get("password") is not None:
            password = self._string(block["password"], _join(path, "password"), "the password")
            self.secrets.add(password)
        security = self._string(
            block.get("security", "starttls"), _join(path, "security"), "starttls, tls or none"
        )
        if security not in ("starttls", "tls", "none"):
            raise ConfigError(
                _join(path, "security"), f"expected starttls, tls or none, got {_show(security)}"
            )
        default_port = {"starttls": 587, "tls": 465, "none": 25}[security]
        sender = self._string(block["from"], _join(path, "from"), "an e-mail address")
        if not _EMAIL.fullmatch(sender):
            raise ConfigError(
                _join(path, "from"), f"expected an e-mail address, got {_show(sender)}"
            )
        return SmtpConfig(
            host=self._string(block["host"], _join(path, "host"), "a host name"),
            sender=sender,
            port=self._int(
                block.get("port", default_port), _join(path, "port"), "a port number", minimum=1
            ),
            security=security,
            username=(
                self._string(block["username"], _join(path, "username"), "a user name")
                if block.get("username") is not None
                else None
            ),
            password=password,
            timeout=(
                self._duration(block["timeout"], _join(path, "timeout"), 0.0, None, exclusive=True)
                if "timeout" in block
                else 20.0
            ),
        )

    def _alerts(self, value: object, path: str, smtp: SmtpConfig | None) -> AlertsConfig:
        block = self._optional_mapping(value, path, "'email', 'webhook' and 'feed_failing_after'")
        _check_keys(block, path, _ALERT_KEYS)
        email = self._emails(block.get("email"), _join(path, "email"), "[web@example.org]")
        if email and smtp is None:
            raise ConfigError(_join(path, "email"), "e-mail alerts need an 'smtp:' section")
        webhook_url, webhook_secret = self._webhook(
            block.get("webhook"), _join(path, "webhook"), "alerts"
        )
        failing_after = 86400.0
        if "feed_failing_after" in block:
            failing_after = self._duration(
                block["feed_failing_after"], _join(path, "feed_failing_after"), 60.0, None
            )
        return AlertsConfig(
            email=email,
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
            feed_failing_after=failing_after,
        )

    def _emails(self, value: object, path: str, example: str) -> tuple[str, ...]:
        addresses = self._strings(value, path, "a list of e-mail addresses", example)
        for index, address in enumerate(addresses):
            if not _EMAIL.fullmatch(address):
                raise ConfigError(_index(path, index), f"not an e-mail address: {_show(address)}")
        return addresses

    def _webhook(self, value: object, path: str, what: str) -> tuple[str | None, str | None]:
        """(url, secret) of a signed JSON webhook block (alerts, watch), or (None, None)."""
        if value is None:
            return None, None
        hook = self._mapping(value, path, "'url' and optionally 'secret'")
        for secret_key in ("url", "secret"):
            if f"{secret_key}_file" in hook:
                hook[secret_key] = self._secret_file(
                    hook.pop(f"{secret_key}_file"), _join(path, f"{secret_key}_file")
                )
        _check_keys(hook, path, _WEBHOOK_KEYS)
        if "url" not in hook:
            raise ConfigError(_join(path, "url"), f"missing; the address to POST {what} to")
        url = self._string(hook["url"], _join(path, "url"), "an http(s) URL")
        if urlsplit(url).scheme not in ("http", "https"):
            raise ConfigError(_join(path, "url"), "expected an http(s) URL")
        # Chat webhooks carry their credential in the URL itself.
        self.secrets.add(url)
        secret = None
        if hook.get("secret") is not None:
            secret = self._string(hook["secret"], _join(path, "secret"), "a key")
            self.secrets.add(secret)
        return url, secret

    def _watch(
        self,
        value: object,
        path: str,
        smtp: SmtpConfig | None,
        accounts: Mapping[str, AccountConfig],
    ) -> WatchSettings:
        block = self._optional_mapping(value, path, "'watches', 'retention' and 'webhook'")
        _check_keys(block, path, _WATCH_TOP_KEYS)
        retention = DEFAULT_RETENTION
        if "retention" in block:
            retention = self._duration(block["retention"], _join(path, "retention"), 86400.0, None)
        webhook_url, webhook_secret = self._webhook(
            block.get("webhook"), _join(path, "webhook"), "alerts and digests"
        )
        watches_path = _join(path, "watches")
        watches_block = self._optional_mapping(
            block.get("watches"), watches_path, "watch names, each with its settings"
        )
        watches = {
            self._name(name, _join(watches_path, str(name)), "watch"): self._one_watch(
                name, item, _join(watches_path, str(name)), smtp, accounts
            )
            for name, item in watches_block.items()
        }
        return WatchSettings(
            watches=MappingProxyType(watches),
            retention=retention,
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
        )

    def _one_watch(
        self,
        name: str,
        value: object,
        path: str,
        smtp: SmtpConfig | None,
        accounts: Mapping[str, AccountConfig],
    ) -> WatchConfig:
        block = self._mapping(value, path, "the watch's settings, at least 'sources'")
        _check_keys(block, path, _WATCH_KEYS)
        if "sources" not in block:
            raise ConfigError(
                _join(path, "sources"),
                "missing; give the places to look, e.g. sources: {alerts: {type: feed, url: ...}}",
            )
        sources_path = _join(path, "sources")
        sources_block = self._mapping(block["sources"], sources_path, "source names")
        if not sources_block:
            raise ConfigError(sources_path, "expected at least one source; the mapping is empty")
        sources = tuple(
            self._watch_source(
                self._name(source, _join(sources_path, str(source)), "source"),
                item,
                _join(sources_path, str(source)),
                accounts,
            )
            for source, item in sources_block.items()
        )

        def words(key: str, example: str) -> tuple[str, ...]:
            return self._strings(block.get(key), _join(path, key), "a list of words", example)

        recipients = self._emails(
            block.get("recipients"), _join(path, "recipients"), "[communication@example.org]"
        )
        if recipients and smtp is None:
            raise ConfigError(_join(path, "recipients"), "e-mailed digests need an 'smtp:' section")
        digest: tuple[str, time | None] = ("daily", time(8, 0))
        if "digest" in block:
            key = _join(path, "digest")
            if key in self.sexagesimal:
                raise self._sexagesimal_error(key, block["digest"], '"daily 08:00" in quotes')
            text = self._string(block["digest"], key, '"daily 08:00" or "hourly"').strip()
            match = _DIGEST.fullmatch(text.lower())
            if match is None:
                raise ConfigError(key, f'expected "daily 08:00" or "hourly", got {_show(text)}')
            hour, minute = match.groups()
            digest = ("hourly", None) if hour is None else ("daily", time(int(hour), int(minute)))
        return WatchConfig(
            name=name,
            sources=sources,
            keywords=words("keywords", "[Exempleville, mairie]"),
            alert_keywords=words("alert_keywords", "[incendie, pollution]"),
            recipients=recipients,
            digest=digest,
            send_empty=(
                self._bool(block["send_empty"], _join(path, "send_empty"))
                if "send_empty" in block
                else False
            ),
            alert_max_per_hour=(
                self._int(
                    block["alert_max_per_hour"],
                    _join(path, "alert_max_per_hour"),
                    "a number of alerts",
                    minimum=0,
                )
                if "alert_max_per_hour" in block
                else DEFAULT_ALERT_MAX_PER_HOUR
            ),
            poll_interval=(
                self._duration(
                    block["poll_interval"],
                    _join(path, "poll_interval"),
                    MIN_POLL_INTERVAL,
                    MAX_POLL_INTERVAL,
                )
                if "poll_interval" in block
                else DEFAULT_WATCH_POLL_INTERVAL
            ),
        )

    def _watch_source(
        self, name: str, value: object, path: str, accounts: Mapping[str, AccountConfig]
    ) -> WatchSourceConfig:
        block = self._mapping(value, path, "the source's settings, at least 'type'")
        if "token_file" in block:
            if "token" in block:
                raise ConfigError(
                    _join(path, "token_file"), "give either 'token' or 'token_file', not both"
                )
            block["token"] = self._secret_file(block.pop("token_file"), _join(path, "token_file"))
        types = ", ".join(WATCH_SOURCE_KEYS)
        if "type" not in block:
            raise ConfigError(_join(path, "type"), f"missing; one of {types}")
        kind = self._string(block["type"], _join(path, "type"), f"one of {types}")
        if kind not in WATCH_SOURCE_KEYS:
            raise ConfigError(_join(path, "type"), f"unknown source type {_show(kind)}; {types}")
        _check_keys(block, path, ("type", *WATCH_SOURCE_KEYS[kind], "timeout", "max_bytes"))

        def text(key: str, what: str) -> str | None:
            if block.get(key) is None:
                return None
            return self._string(block[key], _join(path, key), what).strip()

        token = text("token", "an access token")
        if token:
            self.secrets.add(token)
        api_url = text("api_url", "an http(s) URL")
        if api_url is not None:
            if urlsplit(api_url).scheme not in ("http", "https"):
                raise ConfigError(_join(path, "api_url"), "expected an http(s) URL")
            api_url = api_url.rstrip("/")
        url = None
        mentions = None
        replied: tuple[str, ...] = ()
        if kind == "feed":
            if "url" not in block:
                raise ConfigError(_join(path, "url"), "missing; the address of the RSS/Atom feed")
            url = self._feed_url(block["url"], _join(path, "url"))
        elif kind == "replies":
            replied = self._feed_accounts(block.get("accounts"), _join(path, "accounts"), accounts)
            for index, account in enumerate(replied):
                if accounts[account].type not in ("bluesky", "mastodon"):
                    raise ConfigError(
                        _index(_join(path, "accounts"), index),
                        "replies are read from bluesky and mastodon accounts; "
                        f"'{account}' is a {accounts[account].type} account",
                    )
            api_url = api_url or "https://public.api.bsky.app"
        elif kind == "bluesky":
            mentions = text("mentions", "a Bluesky handle")
            if not any(block.get(k) for k in ("q", "domain", "mentions")):
                raise ConfigError(path, "give at least one of 'q', 'domain' or 'mentions'")
            if block.get("account") is not None:
                # Search logged in, as that account: Bluesky often refuses anonymous search.
                account = self._string(block["account"], _join(path, "account"), "an account name")
                if accounts.get(account) is None or accounts[account].type != "bluesky":
                    known = ", ".join(n for n, a in accounts.items() if a.type == "bluesky")
                    raise ConfigError(
                        _join(path, "account"),
                        f"{_show(account)} is not a bluesky account of this configuration"
                        f" (bluesky accounts: {known or 'none'})",
                    )
                if token:
                    raise ConfigError(
                        _join(path, "token"), "give either 'account' or 'token', not both"
                    )
                replied = (account,)
                pds = str(accounts[account].options.get("api_url") or "https://bsky.social")
                api_url = api_url or pds.rstrip("/")
            api_url = api_url or "https://public.api.bsky.app"
        else:
            if api_url is None:
                raise ConfigError(
                    _join(path, "api_url"), "missing; the instance, e.g. https://mastodon.social"
                )
            if "mentions" in block:
                mentions = "yes" if self._bool(block["mentions"], _join(path, "mentions")) else None
            if not (block.get("hashtag") or block.get("q") or mentions):
                raise ConfigError(path, "give 'hashtag', 'q' or 'mentions: true'")
            if (mentions or block.get("q")) and not token:
                raise ConfigError(
                    _join(path, "token"), "mentions and search need the account's access token"
                )
        hashtag = text("hashtag", "a hashtag without #")
        return WatchSourceConfig(
            name=name,
            type=kind,
            url=url,
            api_url=api_url,
            q=text("q", "a search query"),
            domain=text("domain", "a domain such as exempleville.fr"),
            mentions=mentions,
            hashtag=hashtag.lstrip("#") if hashtag else None,
            limit=(
                self._int(block["limit"], _join(path, "limit"), "a number from 1 to 100", minimum=1)
                if "limit" in block
                else 40
            ),
            token=token,
            accounts=replied,
            within=(
                self._duration(block["within"], _join(path, "within"), 3600.0, None)
                if "within" in block
                else 7 * 86400.0
            ),
            timeout=(
                self._duration(block["timeout"], _join(path, "timeout"), 0.0, None, exclusive=True)
                if "timeout" in block
                else DEFAULT_TIMEOUT
            ),
            max_bytes=(
                self._max_bytes(block["max_bytes"], _join(path, "max_bytes"))
                if "max_bytes" in block
                else DEFAULT_MAX_BYTES
            ),
        )

    # --- values

    def _template(self, value: object, key: str) -> str:
        allowed = ", ".join(f"{{{name}}}" for name in TEMPLATE_FIELDS)
        text = self._string(value, key, 'a template such as "{title}\\n\\n{link}"')
        try:
            fields = [part[1:] for part in string.Formatter().parse(text)]
        except ValueError as e:
            raise ConfigError(
                key, f"braces do not match ({e}); write {{{{ or }}}} for a literal brace"
            ) from None
        for name, spec, conversion in fields:
            if name is None:
                continue
            if not name:
                raise ConfigError(key, f"empty braces {{}}; name a field, one of {allowed}")
            if name not in TEMPLATE_FIELDS:
                close = difflib.get_close_matches(name, TEMPLATE_FIELDS, n=1)
                hint = f" (did you mean {{{close[0]}}}?)" if close else ""
                raise ConfigError(key, f"unknown field {{{name}}}{hint}; allowed fields: {allowed}")
            if spec or conversion:
                raise ConfigError(
                    key,
                    f"write plain {{{name}}}; formats like ':' or '!' are not supported",
                )
        return text

    def _language(self, value: object, key: str) -> str:
        text = self._string(value, key, "a language code such as fr, en or pt-BR")
        if not _LANGUAGE.fullmatch(text):
            raise ConfigError(
                key, f"expected a language code such as fr, en or pt-BR, got {_show(text)}"
            )
        return text

    def _burst_limit(self, value: object, key: str) -> int:
        return self._int(value, key, "a whole number of items, at least 1", minimum=1)

    def _max_bytes(self, value: object, key: str) -> int:
        if isinstance(value, int) and not isinstance(value, bool) and key in self.sexagesimal:
            raise self._sexagesimal_error(key, value, "a size such as 10MB")
        size = parse_size(value, key)
        if size < 1:
            raise ConfigError(key, "must be at least 1 byte")
        return size

    def _duration(
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
            raise self._sexagesimal_error(key, value, "a duration with units, such as 90s or 1h30m")
        seconds = parse_duration(value, key)
        if exclusive and seconds <= minimum:
            raise ConfigError(key, f"must be more than {_human_duration(minimum)}")
        if seconds < minimum:
            raise ConfigError(
                key,
                f"must be at least {_human_duration(minimum)}, got {_human_duration(seconds)}",
            )
        if maximum is not None and seconds > maximum:
            raise ConfigError(
                key,
                f"must be at most {_human_duration(maximum)}, got {_human_duration(seconds)}",
            )
        return seconds

    def _sexagesimal_error(self, key: str, value: object, expected: str) -> ConfigError:
        raw = self.sexagesimal[key]
        return ConfigError(
            key,
            f"YAML reads {raw} as the base-60 number {value}; write {expected}, "
            "or put the value in quotes",
        )

    def _int(self, value: object, key: str, what: str, *, minimum: int) -> int:
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())  # from ${VAR}, which always yields text
        if isinstance(value, bool) or not isinstance(value, int):
            got = self._describe_at(value, key, text_expected=False)
            raise ConfigError(key, f"expected {what}, got {got}")
        if value < minimum:
            raise ConfigError(key, f"expected {what}, got {value}")
        return value

    def _bool(self, value: object, key: str) -> bool:
        if isinstance(value, bool):
            return value
        # ${VAR} always yields text; take the words YAML itself reads as booleans.
        if isinstance(value, str):
            word = value.strip().lower()
            if word in ("true", "yes", "on"):
                return True
            if word in ("false", "no", "off"):
                return False
        got = self._describe_at(value, key, text_expected=False)
        raise ConfigError(key, f"expected true or false, got {got}")

    def _string(self, value: object, key: str, what: str) -> str:
        if isinstance(value, str):
            if not value.strip():
                raise ConfigError(key, f"expected {what}, got an empty string")
            return value
        raise ConfigError(key, f"expected {what}, got {self._describe_at(value, key)}")

    def _strings(self, value: object, key: str, what: str, example: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            raise ConfigError(
                key, f"expected {what}, got a string; even a single one goes in brackets: {example}"
            )
        if not isinstance(value, list):
            raise ConfigError(key, f"expected {what}, got {self._describe_at(value, key)}")
        return tuple(
            self._string(item, _index(key, index), "a string") for index, item in enumerate(value)
        )

    def _name(self, value: object, key: str, kind: str) -> str:
        if isinstance(value, str) and _NAME.fullmatch(value):
            return value
        got = _show(value) if isinstance(value, str) else self._describe_at(value, key)
        raise ConfigError(
            key,
            f"{kind} names must be 1 to 64 lower-case letters, digits, '_' or '-', "
            f"starting with a letter or digit (they appear in logs and commands); got {got}",
        )

    def _mapping(self, value: object, key: str, what: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ConfigError(key, f"expected a mapping of {what}, got {_describe(value)}")
        for name in value:
            if not isinstance(name, str):
                raise ConfigError(
                    _join(key, _yaml_text(name)),
                    f"expected a key name, got {_describe(name)}{_quote_hint(name)}",
                )
        return value

    def _optional_mapping(self, value: object, key: str, what: str) -> dict[str, Any]:
        # A section with every line commented out reads as null: same as absent.
        return {} if value is None else self._mapping(value, key, what)

    def _describe_at(self, value: object, key: str, *, text_expected: bool = True) -> str:
        if key in self.sexagesimal:
            return (
                f"the number {value} (YAML reads {self.sexagesimal[key]} as a base-60 number; "
                "put the value in quotes)"
            )
        return f"{_describe(value)}{_quote_hint(value) if text_expected else ''}"

    def _secret_file(self, value: object, key: str) -> str:
        name = self._string(value, key, "the path of a file holding the value")
        file_path = self.base_dir / Path(name).expanduser()
        try:
            text = file_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(key, f"file not found: {file_path}") from None
        except UnicodeDecodeError:
            raise ConfigError(key, f"file {file_path} is not UTF-8 text") from None
        except OSError as e:
            raise ConfigError(key, f"cannot read file {file_path}: {e.strerror or e}") from None
        # Editors and `echo` add one newline; anything else is the user's data.
        text = text.removesuffix("\n").removesuffix("\r")
        if not text:
            raise ConfigError(key, f"file {file_path} is empty")
        self.secrets.add(text)
        self.secret_files.append(file_path)
        return text

    def _collect_secrets(self, value: object, key: str | None) -> None:
        if isinstance(value, dict):
            for name, item in value.items():
                # A `<key>_file` value is a path; the secret is what the file holds.
                if not str(name).endswith("_file"):
                    self._collect_secrets(item, str(name))
        elif isinstance(value, list):
            for item in value:
                self._collect_secrets(item, key)
        elif isinstance(value, str) and value.strip() and key and _SECRET_KEY.search(key):
            self.secrets.add(value)


# --- small helpers ---------------------------------------------------------------


def _string_leaves(value: object, key: str | None) -> list[tuple[str | None, str]]:
    """Every string in ``value`` with the name of the mapping key it sits under."""
    if isinstance(value, dict):
        return [leaf for name, item in value.items() for leaf in _string_leaves(item, str(name))]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _string_leaves(item, key)]
    return [(key, value)] if isinstance(value, str) else []


def _holds_secrets(key: str | None) -> bool:
    return key is not None and (key == "database" or _SECRET_KEY.search(key) is not None)


def _written_forms(secret: str) -> tuple[str, ...]:
    # A database password is written percent-encoded inside its URL.
    return (secret, quote(secret, safe=""), quote_plus(secret))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _index(path: str, index: int) -> str:
    return f"{path}[{index}]"


def _check_keys(block: Mapping[str, Any], path: str, allowed: Sequence[str]) -> None:
    for key in block:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(
                _join(path, key), f"unknown key{hint}; allowed keys: {', '.join(allowed)}"
            )


def _freeze(value: Any) -> Any:
    """A read-only copy: mappings become MappingProxyType, lists tuples, sets frozensets."""
    if isinstance(value, dict):
        return MappingProxyType({key: _freeze(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(item) for item in value)
    if isinstance(value, set):
        return frozenset(value)
    return value


def _describe(value: object) -> str:
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


def _quote_hint(value: object) -> str:
    if isinstance(value, bool):
        return (
            "; YAML reads unquoted yes, no, on, off, true and false as booleans, "
            "so put the value in quotes"
        )
    if isinstance(value, int | float) or hasattr(value, "isoformat"):
        return "; put the value in quotes if you meant text"
    return ""


def _yaml_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _show(value: object) -> str:
    text = str(value)
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _human_duration(seconds: float) -> str:
    if seconds != int(seconds) or seconds < 1:
        return f"{seconds:g}s"
    rest = int(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts) or "0s"
