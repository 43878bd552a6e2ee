"""The configuration file: YAML + ``${ENV}`` + ``*_file`` secrets -> a frozen ``Config``.

Contract with the people who write the file (a communication officer, a
part-time IT person): every mistake is a ``ConfigError`` whose ``path`` names
the key at fault (``feeds.actualites.accounts[1]``) and whose message says
what was expected, in plain words. No YAML or Python exception escapes
``load_config`` or ``parse_config``, and no secret value ever appears in an
error message.

One module per job:

``model``      the frozen dataclasses (``Config``, ``FeedConfig``, ...) and defaults;
``loader``     strict YAML (line numbers, duplicate keys refused), ``${VAR}``, ``<key>_file``;
``fields``     the one grammar of values: durations, sizes, names, how values are described;
``reader``     checking values in the context of one file (paths, base-60 numbers, secrets);
``database``   database URLs, without SQLAlchemy;
``document``   the top-level keys and the order sections are read in;
``delivery``, ``accounts``, ``feeds``, ``alerts`` (smtp, alerts, webhooks), ``watch``:
               one module per section.

Where a new key goes: add its field to the dataclass in ``model``, then its
check to its section's module — in the section's table of ``Field``s when
its value is plain data (a duration, a number, a word), else in the section's
function, reusing the checks of ``reader`` and ``fields``; a watch source's
keys are the ``configure`` parameters of its class in ``autoposter/watch/``.
Then document it in README.md and in config.example.yaml, which list every
key, and test it in tests/test_config.py.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from autoposter.config.database import DatabaseURL
from autoposter.config.document import parse_document
from autoposter.config.fields import parse_duration, parse_size
from autoposter.config.loader import read_yaml, withhold_secrets
from autoposter.config.model import (
    CONFIG_ENV_VAR,
    CONFIG_FILE_NAME,
    DEFAULT_TEMPLATE,
    AccountConfig,
    AlertsConfig,
    Config,
    FeedConfig,
    Filter,
    SmtpConfig,
    WatchConfig,
    WatchSettings,
    WatchSourceConfig,
    WebConfig,
)
from autoposter.config.reader import Reader
from autoposter.render import TEMPLATE_FIELDS

__all__ = [
    "DEFAULT_TEMPLATE",
    "TEMPLATE_FIELDS",
    "AccountConfig",
    "AlertsConfig",
    "Config",
    "DatabaseURL",
    "FeedConfig",
    "Filter",
    "SmtpConfig",
    "WatchConfig",
    "WatchSettings",
    "WatchSourceConfig",
    "WebConfig",
    "load_config",
    "parse_config",
    "parse_duration",
    "parse_size",
    "resolve_config_path",
]


def resolve_config_path(explicit: str | None, environ: Mapping[str, str]) -> Path:
    """``--config`` if given, else ``$AUTOPOSTER_CONFIG``, else ``./autoposter.yaml``."""
    if explicit:
        return Path(explicit).expanduser()
    from_env = environ.get(CONFIG_ENV_VAR, "")
    if from_env:
        return Path(from_env).expanduser()
    return Path(CONFIG_FILE_NAME)


def load_config(
    path: Path,
    environ: Mapping[str, str] | None = None,
    *,
    read_only: bool = False,
    secrets: bool = True,
) -> Config:
    """Read and check the file at ``path``; relative paths inside it are relative to its directory.

    Raises ConfigError for everything, including a missing file or bad YAML.
    ``read_only`` (commands that post nothing and call no network with credentials:
    status, queue, preview, export, mentions): a secret whose ``${VAR}`` is unset is
    left out, its key path in ``Config.deferred_secrets``, rather than refused. A
    configuration read so must not be used to post.

    ``secrets=False`` (the web console, which must hold no credential): every secret
    is left out, whether written, from a variable or from a file (which is not even
    read), each key path in ``Config.deferred_secrets``. Implies ``read_only``.
    """
    path = Path(path).absolute()
    data, sexagesimal = read_yaml(path)
    reader = Reader(path.parent, os.environ if environ is None else environ, sexagesimal)
    if read_only or not secrets:
        reader.deferred = []
    if not secrets:
        assert reader.deferred is not None
        data = withhold_secrets(data, "", reader.deferred)
    return parse_document(reader, data, path)


def parse_config(
    data: object, *, base_dir: Path, environ: Mapping[str, str], path: Path | None = None
) -> Config:
    """Check already-parsed YAML ``data``; relative paths in it are taken from ``base_dir``."""
    return parse_document(Reader(Path(base_dir).absolute(), environ, {}), data, path)
