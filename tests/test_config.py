"""autoposter.config: real YAML files in tmp_path, read the way the daemon reads them."""

from __future__ import annotations

import dataclasses
import ipaddress
import subprocess
import sys
from pathlib import Path

import pytest

from autoposter import render
from autoposter.config import (
    DEFAULT_TEMPLATE,
    TEMPLATE_FIELDS,
    AccountConfig,
    Config,
    DatabaseURL,
    FeedConfig,
    Filter,
    load_config,
    parse_config,
    parse_duration,
    parse_size,
    resolve_config_path,
)
from autoposter.errors import ConfigError

TOKEN = "FAKE-TOKEN-0000"
ENV = {"MASTODON_TOKEN": TOKEN}

FULL_EXAMPLE = """\
database: sqlite:///autoposter.db
timezone: Europe/Paris
dispatch_interval: 30s
user_agent: "autoposter (mairie)"
defaults:
  poll_interval: 5m
  language: fr
  template: "{title}\\n\\n{link}"
  hashtags: []
  burst_limit: 5
  timeout: 20s
  max_bytes: 10MB
accounts:
  ville_mastodon:
    type: mastodon
    api_url: https://social.example.fr
    access_token: ${MASTODON_TOKEN}
  console: {type: console}
feeds:
  actualites:
    url: https://www.ville.example.fr/feed
    accounts: [ville_mastodon]
    poll_interval: 10m
    template: "{title} {hashtags}\\n\\n{link}"
    hashtags: [Ville]
    include: {categories: [Culture, Sport], keywords: [concert]}
    exclude: {categories: [Interne], keywords: [annulé]}
    burst_limit: 3
    language: fr-FR
    timeout: 15s
    max_bytes: 512KB
    enabled: true
  agenda:
    url: http://www.ville.example.fr/agenda.rss
    accounts: [ville_mastodon, console]
"""

# A feed block to which error cases add one line.
BASE = """\
accounts:
  ville_mastodon: {type: mastodon, access_token: "${MASTODON_TOKEN}"}
  console: {type: console}
feeds:
  actualites:
    url: https://www.ville.example.fr/feed
    accounts: [ville_mastodon]
"""


def write(tmp_path: Path, text: str, name: str = "autoposter.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> Config:
    return load_config(write(tmp_path, text), ENV if environ is None else environ)


def error(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, environ)
    return info.value


# --- a good file --------------------------------------------------------------


def test_full_example_loads_to_the_expected_dataclasses(tmp_path: Path) -> None:
    config = load(tmp_path, FULL_EXAMPLE)

    assert config.path == tmp_path / "autoposter.yaml"
    assert config.database == f"sqlite:///{tmp_path}/autoposter.db"
    assert config.timezone == "Europe/Paris"
    assert config.tz().key == "Europe/Paris"
    assert config.dispatch_interval == 30.0
    assert config.user_agent == "autoposter (mairie)"
    assert config.default_language == "fr"
    assert config.default_template == DEFAULT_TEMPLATE
    assert dict(config.accounts) == {
        "ville_mastodon": AccountConfig(
            name="ville_mastodon",
            type="mastodon",
            options={"api_url": "https://social.example.fr", "access_token": TOKEN},
        ),
        "console": AccountConfig(name="console", type="console", options={}),
    }
    assert list(config.feeds) == ["actualites", "agenda"]
    assert config.feeds["actualites"] == FeedConfig(
        name="actualites",
        url="https://www.ville.example.fr/feed",
        accounts=("ville_mastodon",),
        poll_interval=600.0,
        template="{title} {hashtags}\n\n{link}",
        hashtags=("Ville",),
        language="fr-FR",
        include=Filter(categories=("Culture", "Sport"), keywords=("concert",)),
        exclude=Filter(categories=("Interne",), keywords=("annulé",)),
        burst_limit=3,
        timeout=15.0,
        max_bytes=512 * 1024,
        enabled=True,
    )
    # The second feed takes everything it does not say from `defaults:`.
    assert config.feeds["agenda"] == FeedConfig(
        name="agenda",
        url="http://www.ville.example.fr/agenda.rss",
        accounts=("ville_mastodon", "console"),
        poll_interval=300.0,
        template=DEFAULT_TEMPLATE,
        hashtags=(),
        language="fr",
        include=Filter(),
        exclude=Filter(),
        burst_limit=5,
        timeout=20.0,
        max_bytes=10 * 1024 * 1024,
        enabled=True,
    )
    assert config.feeds["agenda"].include.is_empty()
    assert not config.feeds["actualites"].include.is_empty()
    assert config.secrets == frozenset({TOKEN})


def test_built_in_defaults_without_a_defaults_block(tmp_path: Path) -> None:
    config = load(tmp_path, BASE)
    feed = config.feeds["actualites"]
    assert (feed.poll_interval, feed.language, feed.template) == (300.0, "en", DEFAULT_TEMPLATE)
    assert (feed.burst_limit, feed.timeout, feed.max_bytes) == (5, 20.0, 10 * 1024 * 1024)
    assert feed.enabled
    assert config.timezone == "UTC"
    assert config.dispatch_interval == 30.0
    assert config.user_agent is None


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "accounts:\nfeeds:\n"])
def test_an_empty_config_is_legal(tmp_path: Path, text: str) -> None:
    config = load(tmp_path, text)
    assert config.feeds == {}
    assert config.accounts == {}
    assert config.database == f"sqlite:///{tmp_path}/autoposter.db"


def test_config_is_read_only(tmp_path: Path) -> None:
    config = load(tmp_path, BASE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.timezone = "Europe/Paris"  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.feeds["other"] = config.feeds["actualites"]  # type: ignore[index]
    with pytest.raises(TypeError):
        config.accounts["ville_mastodon"].options["access_token"] = "x"  # type: ignore[index]


def test_account_options_are_kept_for_the_plugin_and_frozen(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
accounts:
  hook:
    type: webhook
    url: https://hooks.example.org/x
    headers: {X-Team: com}
    tags: [a, b]
    any_option_the_plugin_wants: 3
""",
    )
    options = config.accounts["hook"].options
    assert options["headers"] == {"X-Team": "com"}
    assert options["tags"] == ("a", "b")
    assert options["any_option_the_plugin_wants"] == 3
    assert "type" not in options


def test_parse_config_takes_already_parsed_data(tmp_path: Path) -> None:
    data = {
        "accounts": {"console": {"type": "console"}},
        "feeds": {"demo": {"url": "file:demo/feed.xml", "accounts": ["console"]}},
    }
    config = parse_config(data, base_dir=tmp_path, environ={})
    assert config.path is None
    assert config.feeds["demo"].url == (tmp_path / "demo" / "feed.xml").as_uri()


def test_template_fields_match_the_renderer() -> None:
    assert set(TEMPLATE_FIELDS) == set(render.TEMPLATE_FIELDS)


# --- errors name the key path ---------------------------------------------------


def feed_with(line: str) -> str:
    return BASE + f"    {line}\n"


@pytest.mark.parametrize(
    ("text", "path", "fragment"),
    [
        # unknown keys, with a suggestion when one is close
        (
            feed_with("pol_interval: 5m"),
            "feeds.actualites.pol_interval",
            "did you mean 'poll_interval'?",
        ),
        (BASE + "feed: {}\n", "feed", "did you mean 'feeds'?"),
        (BASE + "defaults: {langage: fr}\n", "defaults.langage", "did you mean 'language'?"),
        (
            feed_with("include: {category: [a]}"),
            "feeds.actualites.include.category",
            "did you mean 'categories'?",
        ),
        (BASE + "colour: blue\n", "colour", "allowed keys: database, database_file, timezone"),
        # wrong types
        (
            BASE.replace("[ville_mastodon]", "ville_mastodon"),
            "feeds.actualites.accounts",
            "expected a list of account names, got a string",
        ),
        (
            BASE.replace("accounts: [ville_mastodon]", "accounts: []"),
            "feeds.actualites.accounts",
            "at least one account",
        ),
        ("feeds: [a, b]\n", "feeds", "expected a mapping"),
        ("accounts: [console]\n", "accounts", "expected a mapping of account names"),
        (
            "accounts: {console: }\n",
            "accounts.console",
            "expected a mapping of the account's settings",
        ),
        (
            feed_with("hashtags: Ville"),
            "feeds.actualites.hashtags",
            "even a single one goes in brackets",
        ),
        (
            feed_with("hashtags: [2024]"),
            "feeds.actualites.hashtags[0]",
            "expected a string, got a number (2024)",
        ),
        (feed_with("exclude: [a]"), "feeds.actualites.exclude", "expected a mapping"),
        (
            feed_with("include: {keywords: [a, 3]}"),
            "feeds.actualites.include.keywords[1]",
            "expected a string",
        ),
        (
            feed_with("enabled: maybe"),
            "feeds.actualites.enabled",
            "expected true or false, got a string",
        ),
        (feed_with("burst_limit: 0"), "feeds.actualites.burst_limit", "at least 1"),
        (
            feed_with("burst_limit: 2.5"),
            "feeds.actualites.burst_limit",
            "at least 1, got a number (2.5)",
        ),
        # YAML 1.1 traps
        (
            feed_with("language: no"),
            "feeds.actualites.language",
            "got a boolean (false); YAML reads unquoted yes, no",
        ),
        (
            feed_with("poll_interval: 1:30"),
            "feeds.actualites.poll_interval",
            "YAML reads 1:30 as the base-60 number 90",
        ),
        (BASE + "timezone: 22:00\n", "timezone", "YAML reads 22:00 as a base-60 number"),
        (
            "feeds:\n  no: {url: https://a.example/feed, accounts: [x]}\n",
            "feeds.false",
            "expected a key name, got a boolean",
        ),
        # names
        (
            "accounts:\n  Ville Mastodon: {type: mastodon}\n",
            "accounts.Ville Mastodon",
            "lower-case letters",
        ),
        (
            BASE + "  Actualités: {url: https://a.example/feed, accounts: [console]}\n",
            "feeds.Actualités",
            "feed names must be",
        ),
        # required keys
        (
            "accounts:\n  console: {api_url: https://x.example}\n",
            "accounts.console.type",
            "missing",
        ),
        ("accounts:\n  console: {type: 3}\n", "accounts.console.type", "expected an account type"),
        ("feeds:\n  a: {accounts: [x]}\n", "feeds.a.url", "missing"),
        (
            "accounts: {console: {type: console}}\nfeeds:\n  a: {url: https://a.example/feed}\n",
            "feeds.a.accounts",
            "missing",
        ),
        # references between sections
        (
            BASE.replace("[ville_mastodon]", "[ville_mastodon, bsky]"),
            "feeds.actualites.accounts[1]",
            "unknown account 'bsky' (accounts defined: console, ville_mastodon)",
        ),
        (
            BASE.replace("[ville_mastodon]", "[ville_mastodon, ville_mastodon]"),
            "feeds.actualites.accounts[1]",
            "listed twice",
        ),
        # values
        (BASE + "timezone: Europe/Pari\n", "timezone", "unknown time zone 'Europe/Pari'"),
        (BASE + "dispatch_interval: 500ms\n", "dispatch_interval", "at least 1s"),
        (feed_with("poll_interval: 5s"), "feeds.actualites.poll_interval", "at least 10s, got 5s"),
        (feed_with("poll_interval: 2d"), "feeds.actualites.poll_interval", "at most 1d"),
        (
            feed_with("poll_interval: 5 minutes"),
            "feeds.actualites.poll_interval",
            "expected a duration such as 30s",
        ),
        (feed_with("timeout: 0s"), "feeds.actualites.timeout", "more than 0s"),
        (
            feed_with("max_bytes: 10 megs"),
            "feeds.actualites.max_bytes",
            "expected a size such as 512KB",
        ),
        (feed_with("language: french"), "feeds.actualites.language", "expected a language code"),
        (BASE + "database: not a url\n", "database", "expected a database URL"),
        # templates
        (
            feed_with('template: "{titel} {link}"'),
            "feeds.actualites.template",
            "unknown field {titel} (did you mean {title}?)",
        ),
        (
            feed_with('template: "{title} {body}"'),
            "feeds.actualites.template",
            "allowed fields: {title}, {link}, {summary}",
        ),
        (
            feed_with('template: "{title {link}"'),
            "feeds.actualites.template",
            "braces do not match",
        ),
        (feed_with('template: "{title} }"'), "feeds.actualites.template", "braces do not match"),
        (feed_with('template: "{} {link}"'), "feeds.actualites.template", "empty braces"),
        (
            feed_with('template: "{title!r} {link}"'),
            "feeds.actualites.template",
            "write plain {title}",
        ),
        (BASE + 'defaults: {template: "{title.upper}"}\n', "defaults.template", "unknown field"),
        # feed URLs
        (
            BASE.replace("https://www.ville.example.fr/feed", "ftp://ville.example.fr/feed"),
            "feeds.actualites.url",
            "'ftp:' URLs are not supported; feeds must be http(s) URLs or file: URLs",
        ),
        (
            BASE.replace("https://www.ville.example.fr/feed", "javascript:alert(1)"),
            "feeds.actualites.url",
            "feeds must be http(s) URLs or file: URLs",
        ),
        (
            BASE.replace("https://www.ville.example.fr/feed", "www.ville.example.fr/feed"),
            "feeds.actualites.url",
            "add https:// in front",
        ),
        (
            BASE.replace("https://www.ville.example.fr/feed", "/srv/feed.xml"),
            "feeds.actualites.url",
            "no scheme",
        ),
        (
            BASE.replace("https://www.ville.example.fr/feed", "https:///feed"),
            "feeds.actualites.url",
            "no host name",
        ),
        (
            BASE.replace("https://www.ville.example.fr/feed", "file://server/share/feed.xml"),
            "feeds.actualites.url",
            "a file on this machine",
        ),
        # filters
        (
            feed_with("include: {categories: Culture}"),
            "feeds.actualites.include.categories",
            "expected a list of categories, got a string",
        ),
    ],
)
def test_errors_name_the_key_path(tmp_path: Path, text: str, path: str, fragment: str) -> None:
    e = error(tmp_path, text)
    assert e.path == path
    assert fragment in e.message
    assert str(e) == f"{path}: {e.message}"


def test_unknown_key_message_is_the_documented_one(tmp_path: Path) -> None:
    e = error(tmp_path, feed_with("pol_interval: 5m"))
    assert str(e).startswith(
        "feeds.actualites.pol_interval: unknown key (did you mean 'poll_interval'?)"
    )
    assert "allowed keys: url, accounts, poll_interval" in str(e)


def test_unknown_keys_inside_account_blocks_are_the_plugins_business(tmp_path: Path) -> None:
    config = load(tmp_path, "accounts:\n  m: {type: mastodon, visibilty: unlisted}\n")
    assert config.accounts["m"].options == {"visibilty": "unlisted"}


# --- the file itself --------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml", {})
    assert info.value.path == ""
    assert "config file not found" in info.value.message
    assert str(tmp_path / "nope.yaml") in info.value.message


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path, {})


def test_yaml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    e = error(tmp_path, "feeds:\n  a: {url: x\n  b: 1\n")
    assert e.path == ""
    assert "autoposter.yaml: YAML syntax error at line" in e.message
    assert "column" in e.message


def test_unquoted_variable_in_flow_mapping_gets_a_hint(tmp_path: Path) -> None:
    e = error(tmp_path, "accounts:\n  m: {type: mastodon, access_token: ${MASTODON_TOKEN}}\n")
    assert "line 2" in e.message
    assert 'put quotes around a value with ${...}: "${VAR}"' in e.message


def test_tabs_get_a_hint(tmp_path: Path) -> None:
    e = error(tmp_path, "feeds:\n\ta: 1\n")
    assert "line 2, column 1" in e.message
    assert "indent with spaces, not tabs" in e.message


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "autoposter.yaml"
    path.write_bytes("timezone: Europe/Paris # café\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path, {})


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    e = error(tmp_path, "- a\n- b\n")
    assert e.path == ""
    assert "got a list" in e.message


def test_self_referencing_anchor_is_an_error_not_a_crash(tmp_path: Path) -> None:
    e = error(tmp_path, "accounts:\n  a: &x {type: console, loop: [*x]}\n")
    assert "refers to itself" in e.message


# --- duplicate keys -------------------------------------------------------------


def test_duplicate_feed_name_is_an_error(tmp_path: Path) -> None:
    text = BASE + "  actualites:\n    url: https://other.example/feed\n    accounts: [console]\n"
    e = error(tmp_path, text)
    assert e.path == "feeds.actualites"
    assert "duplicate key 'actualites' (lines 5 and 8)" in e.message


def test_duplicate_key_inside_an_account_block(tmp_path: Path) -> None:
    e = error(tmp_path, "accounts:\n  m:\n    type: mastodon\n    type: bluesky\n")
    assert e.path == "accounts.m.type"
    assert "lines 3 and 4" in e.message


def test_merge_keys_may_be_overridden(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
accounts:
  console: {type: console}
feeds:
  a: &common
    url: https://a.example/feed
    accounts: [console]
    poll_interval: 5m
  b:
    <<: *common
    url: https://b.example/feed
    poll_interval: 10m
""",
    )
    assert config.feeds["b"].poll_interval == 600.0
    assert config.feeds["b"].url == "https://b.example/feed"
    assert config.feeds["b"].accounts == ("console",)


# --- ${VAR} interpolation --------------------------------------------------------


def test_env_interpolation_default_and_dollar(tmp_path: Path) -> None:
    text = """\
user_agent: "${AGENT:-autoposter-bot} costs $$5 ${EMPTY:-fallback}"
timezone: ${TZ_NAME}
feeds: {}
accounts:
  m: {type: mastodon, note: "${NOTE}", plain: "a $ b"}
"""
    # The value contains YAML syntax; it arrives after parsing, so it stays text.
    environ = {"TZ_NAME": "Europe/Paris", "EMPTY": "", "NOTE": "a: [b] # c"}
    config = load(tmp_path, text, environ)
    assert config.user_agent == "autoposter-bot costs $5 fallback"
    assert config.timezone == "Europe/Paris"
    assert config.accounts["m"].options == {"note": "a: [b] # c", "plain": "a $ b"}


def test_env_values_can_fill_numbers_and_booleans(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        feed_with("burst_limit: ${BURST}") + "    enabled: ${ON}\n    poll_interval: ${EVERY}\n",
        {**ENV, "BURST": "7", "ON": "false", "EVERY": "2m"},
    )
    feed = config.feeds["actualites"]
    assert (feed.burst_limit, feed.enabled, feed.poll_interval) == (7, False, 120.0)


def test_undefined_variable_names_the_key_and_variable(tmp_path: Path) -> None:
    e = error(tmp_path, BASE, environ={})
    assert e.path == "accounts.ville_mastodon.access_token"
    assert "environment variable MASTODON_TOKEN is not set" in e.message


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("${NOT CLOSED", "not closed"), ("${1BAD}", "bad variable reference")],
)
def test_malformed_references(tmp_path: Path, value: str, fragment: str) -> None:
    e = error(tmp_path, f'user_agent: "{value}"\n')
    assert e.path == "user_agent"
    assert fragment in e.message


# --- *_file secrets ----------------------------------------------------------------


def test_file_secret_is_read_relative_to_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "token").write_text(TOKEN + "\n")
    (tmp_path / "secrets" / "two-lines").write_text("line1\nline2\n\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load(
        tmp_path,
        """\
accounts:
  m: {type: mastodon, access_token_file: secrets/token, signature_file: secrets/two-lines}
""",
    )
    options = config.accounts["m"].options
    assert options == {"access_token": TOKEN, "signature": "line1\nline2\n"}
    # Both count as secrets: anything kept in a file is.
    assert config.secrets == {TOKEN, "line1\nline2\n"}


def test_key_and_file_both_given(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("x")
    e = error(
        tmp_path, "accounts:\n  m: {type: mastodon, access_token: a, access_token_file: token}\n"
    )
    assert e.path == "accounts.m.access_token_file"
    assert "either 'access_token' or 'access_token_file', not both" in e.message


def test_missing_secret_file_names_key_and_path(tmp_path: Path) -> None:
    e = error(tmp_path, "accounts:\n  m: {type: mastodon, access_token_file: secrets/none}\n")
    assert e.path == "accounts.m.access_token_file"
    assert str(tmp_path / "secrets" / "none") in e.message


def test_empty_secret_file(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("\n")
    e = error(tmp_path, "accounts:\n  m: {type: mastodon, access_token_file: token}\n")
    assert e.path == "accounts.m.access_token_file"
    assert "is empty" in e.message


def test_database_file(tmp_path: Path) -> None:
    (tmp_path / "db").write_text("postgresql+psycopg://app:s3cr%40t@db.local/autoposter\n")
    config = load(tmp_path, "database_file: db\n")
    assert config.database == "postgresql+psycopg://app:s3cr%40t@db.local/autoposter"
    assert "s3cr@t" in config.secrets
    assert config.database in config.secrets


def test_database_and_database_file(tmp_path: Path) -> None:
    (tmp_path / "db").write_text("sqlite:///x.db")
    e = error(tmp_path, "database: sqlite:///y.db\ndatabase_file: db\n")
    assert e.path == "database_file"


# --- secrets ---------------------------------------------------------------------------


def test_secrets_are_collected_by_key_name(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
database: postgresql://autoposter:db-pass-0000@localhost/autoposter
accounts:
  x: {type: x, consumer_key: ck-0000, consumer_secret: cs-0000, api_url: https://api.example}
  bsky: {type: bluesky, handle: ville.example.fr, app_password: ap-0000}
  tg: {type: telegram, bot_token: bt-0000, chat_id: "-100123"}
  hook: {type: webhook, key: k-0000, headers: {api_key: nested-0000}}
  empty: {type: mastodon, access_token: ""}
""",
    )
    assert config.secrets == {
        "db-pass-0000",
        "ck-0000",
        "cs-0000",
        "ap-0000",
        "bt-0000",
        "k-0000",
        "nested-0000",
    }
    assert TOKEN not in repr(load(tmp_path, BASE))


def secret_setup(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(TOKEN + "\n")


@pytest.mark.parametrize(
    "text",
    [
        # an error after the secrets were read
        f"accounts:\n  m: {{type: mastodon, access_token: {TOKEN}}}\nfeeds: {{a: {{url: x}}}}\n",
        "accounts:\n  m: {type: mastodon, access_token_file: token}\ncolour: blue\n",
        # a secret quoted back by a message about another key is redacted
        "accounts:\n  m: {type: mastodon, access_token: '${MASTODON_TOKEN}'}\n"
        "timezone: ${MASTODON_TOKEN}\n",
        "accounts:\n  m: {type: mastodon, access_token_file: token}\n"
        f"feeds: {{a: {{url: https://a.example/feed, accounts: [m], language: {TOKEN}}}}}\n",
        # errors on the secret's own key
        f"accounts:\n  m: {{type: mastodon, access_token: {TOKEN}, access_token_file: token}}\n",
        f"accounts:\n  m:\n    type: mastodon\n    access_token: {TOKEN}\n"
        f"    access_token: {TOKEN}\n",
        f"accounts:\n  m: {{type: mastodon, access_token: '{TOKEN}${{OOPS}}'}}\n",
        f"accounts:\n  m:\n    type: mastodon\n    access_token: {TOKEN}${{ }}\n",
        f"database: postgresql://u:{TOKEN}@h:port/db\n",
        f"database: postgresql://u:{TOKEN}@localhost/db\ntimezone: {TOKEN}\n",
        # a YAML syntax error on the line that holds the token
        f"accounts:\n  m: {{type: mastodon, access_token: {TOKEN}\n  n: [\n",
        f"accounts:\n  m:\n    access_token: {TOKEN}\n   type: x\n",
    ],
)
def test_secrets_never_appear_in_errors(tmp_path: Path, text: str) -> None:
    secret_setup(tmp_path)
    e = error(tmp_path, text)
    assert TOKEN not in str(e)


# --- paths and URLs ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("database", "expected"),
    [
        ("sqlite:///data/x.db", "sqlite:///{dir}/data/x.db"),
        ("sqlite+pysqlite:///x.db?timeout=5", "sqlite+pysqlite:///{dir}/x.db?timeout=5"),
        ("sqlite:////var/lib/autoposter/x.db", "sqlite:////var/lib/autoposter/x.db"),
        ("sqlite://", "sqlite://"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        (
            "postgresql+psycopg://u@db.local/autoposter",
            "postgresql+psycopg://u@db.local/autoposter",
        ),
    ],
)
def test_database_url_resolution(tmp_path: Path, database: str, expected: str) -> None:
    config = load(tmp_path, f"database: '{database}'\n")
    assert config.database == expected.format(dir=tmp_path)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("file:demo/feed.xml", "{dir}/demo/feed.xml"),
        ("file:./demo/../feed.xml", "{dir}/feed.xml"),
        ("file:///srv/feeds/feed.xml", "/srv/feeds/feed.xml"),
        ("file:/srv/feeds/feed.xml", "/srv/feeds/feed.xml"),
        ("file://localhost/srv/feed.xml", "/srv/feed.xml"),
        ("file:demo/mon%20fil.xml", "{dir}/demo/mon fil.xml"),
    ],
)
def test_file_urls_become_absolute(tmp_path: Path, url: str, expected: str) -> None:
    config = load(tmp_path, BASE.replace("https://www.ville.example.fr/feed", url))
    assert config.feeds["actualites"].url == Path(expected.format(dir=tmp_path)).as_uri()


def test_http_urls_are_kept_as_written(tmp_path: Path) -> None:
    url = "HTTPS://www.ville.example.fr/feed?type=rss&lang=fr"
    config = load(tmp_path, BASE.replace("https://www.ville.example.fr/feed", f"'{url}'"))
    assert config.feeds["actualites"].url == url


# --- durations and sizes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        ("1h30m", 5400.0),
        ("1h 30m 15s", 5415.0),
        ("1.5h", 5400.0),
        ("0s", 0.0),
        (0, 0.0),
        ("0", 0.0),
    ],
)
def test_parse_duration(value: object, seconds: float) -> None:
    assert parse_duration(value, "k") == seconds


@pytest.mark.parametrize(
    "value", ["", "5 minutes", "1h30", "-5s", -1, True, None, [5], "1w", float("nan"), 10**400]
)
def test_parse_duration_rejects(value: object) -> None:
    with pytest.raises(ConfigError) as info:
        parse_duration(value, "feeds.a.poll_interval")
    assert info.value.path == "feeds.a.poll_interval"
    assert "expected a duration" in info.value.message


@pytest.mark.parametrize(
    ("value", "size"),
    [
        (1000, 1000),
        ("1000", 1000),
        ("512KB", 512 * 1024),
        ("10MB", 10 * 1024**2),
        ("10 mb", 10 * 1024**2),
        ("10MiB", 10 * 1024**2),
        ("1GB", 1024**3),
        ("1.5KB", 1536),
    ],
)
def test_parse_size(value: object, size: int) -> None:
    assert parse_size(value, "k") == size


@pytest.mark.parametrize("value", ["ten", "10TB", "-1", -1, 1.5, False, "9" * 400 + "GB"])
def test_parse_size_rejects(value: object) -> None:
    with pytest.raises(ConfigError) as info:
        parse_size(value, "defaults.max_bytes")
    assert info.value.path == "defaults.max_bytes"


# --- where the file is ---------------------------------------------------------------------


def test_resolve_config_path_order() -> None:
    env = {"AUTOPOSTER_CONFIG": "/etc/autoposter/config.yaml"}
    assert resolve_config_path("/srv/mine.yaml", env) == Path("/srv/mine.yaml")
    assert resolve_config_path(None, env) == Path("/etc/autoposter/config.yaml")
    assert resolve_config_path(None, {}) == Path("autoposter.yaml")
    assert resolve_config_path("", {"AUTOPOSTER_CONFIG": ""}) == Path("autoposter.yaml")


def test_load_config_uses_os_environ_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MASTODON_TOKEN", TOKEN)
    config = load_config(write(tmp_path, BASE))
    assert config.accounts["ville_mastodon"].options["access_token"] == TOKEN


# --- http: the health and metrics listener ------------------------------------------------


def test_http_listener_is_off_unless_configured(tmp_path: Path) -> None:
    assert load(tmp_path, "feeds: {}\n").http_listen is None
    assert load(tmp_path, "http:\n").http_listen is None  # every line commented out
    assert load(tmp_path, "http: {}\n").http_listen == ("127.0.0.1", 8787)


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ('"0.0.0.0:9100"', ("0.0.0.0", 9100)),
        ('"[::1]:8787"', ("::1", 8787)),
        ('"localhost:8787"', ("localhost", 8787)),
        ("9100", ("127.0.0.1", 9100)),
        ('"${LISTEN}"', ("127.0.0.2", 8000)),
    ],
)
def test_http_listen(tmp_path: Path, listen: str, expected: tuple[str, int]) -> None:
    config = load(tmp_path, f"http: {{listen: {listen}}}\n", {"LISTEN": "127.0.0.2:8000"})
    assert config.http_listen == expected


@pytest.mark.parametrize(
    ("text", "path", "words"),
    [
        ('http: {listen: "8787"}', "http.listen", "expected an address and port"),
        ('http: {listen: "127.0.0.1:99999"}', "http.listen", "from 1 to 65535"),
        ('http: {listen: "::1:8787"}', "http.listen", "in brackets"),
        ("http: {listn: x}", "http.listn", "did you mean 'listen'"),
        ("http: [a]", "http", "expected a mapping"),
    ],
)
def test_http_listen_errors(tmp_path: Path, text: str, path: str, words: str) -> None:
    found = error(tmp_path, text + "\n")
    assert found.path == path
    assert words in found.message


def test_http_allow_networks(tmp_path: Path) -> None:
    assert load(tmp_path, "feeds: {}\n").allow_networks == ()
    config = load(tmp_path, "http: {allow_networks: [10.20.0.0/16, 192.168.1.7/24, '::1']}\n")
    assert config.allow_networks == (
        ipaddress.ip_network("10.20.0.0/16"),
        ipaddress.ip_network("192.168.1.0/24"),
        ipaddress.ip_network("::1/128"),
    )
    assert config.http_listen is None  # naming networks does not turn the listener on
    both = load(tmp_path, "http: {listen: 8000, allow_networks: [127.0.0.0/8]}\n")
    assert both.http_listen == ("127.0.0.1", 8000)
    found = error(tmp_path, "http: {allow_networks: [10.0.0.0/8, intranet]}\n")
    assert found.path == "http.allow_networks[1]"
    assert "expected a network such as 10.20.0.0/16" in found.message
    single = error(tmp_path, "http: {allow_networks: 10.0.0.0/8}\n")
    assert "in brackets" in single.message


def test_inline_secrets_are_the_ones_written_in_the_file(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("FAKE-from-file\n", encoding="utf-8")
    text = (
        "database: postgresql+psycopg://u:FAKE-db%40pw@127.0.0.1/x\n"
        "accounts:\n"
        "  a: {type: console, access_token: FAKE-inline}\n"
        '  b: {type: console, access_token: "${T}"}\n'
        "  c: {type: console, access_token_file: token}\n"
    )
    config = load(tmp_path, text, {"T": "FAKE-from-env"})
    assert config.inline_secrets == {"FAKE-inline", "FAKE-db@pw"}
    assert config.secret_files == (tmp_path / "token",)
    assert "FAKE-from-env" in config.secrets


# --- watch: ---------------------------------------------------------------------------

WATCH = """\
smtp: {host: smtp.example.org, from: autoposter@example.org}
watch:
  retention: 30d
  webhook: {url: "https://hooks.example.org/w", secret: FAKE-WEBHOOK-SECRET}
  watches:
    ville:
      keywords: [Exempleville]
      alert_keywords: [incendie]
      recipients: [com@example.org]
      digest: hourly
      send_empty: true
      alert_max_per_hour: 2
      sources:
        alerts: {type: feed, url: file:alerts.xml}
        bsky: {type: bluesky, domain: exempleville.example}
        masto:
          type: mastodon
          api_url: https://social.example.org/
          hashtag: "#Exempleville"
          mentions: true
          token: FAKE-MASTO-TOKEN
"""


def test_the_watch_section_loads(tmp_path: Path) -> None:
    config = load(tmp_path, WATCH)
    settings = config.watch
    assert settings.retention == 30 * 86400
    assert settings.webhook_url == "https://hooks.example.org/w"
    watch = settings.watches["ville"]
    assert watch.digest == ("hourly", None)
    assert watch.send_empty is True
    assert watch.alert_max_per_hour == 2
    alerts, bsky, masto = watch.sources
    assert alerts.url == (tmp_path / "alerts.xml").as_uri()
    assert bsky.api_url == "https://public.api.bsky.app"
    assert bsky.domain == "exempleville.example"
    assert masto.api_url == "https://social.example.org"
    assert masto.hashtag == "Exempleville"
    assert masto.mentions == "yes"
    assert {"FAKE-MASTO-TOKEN", "FAKE-WEBHOOK-SECRET"} <= config.secrets
    assert "FAKE-MASTO-TOKEN" not in repr(config)


def test_watch_defaults(tmp_path: Path) -> None:
    config = load(
        tmp_path, "watch:\n  watches:\n    v:\n      sources: {a: {type: feed, url: file:a.xml}}\n"
    )
    watch = config.watch.watches["v"]
    assert config.watch.retention == 90 * 86400
    assert watch.digest[0] == "daily"
    assert str(watch.digest[1]) == "08:00:00"
    assert watch.send_empty is False


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        ("      sendempty: true\n", "watch.watches.ville.sendempty", "did you mean 'send_empty'"),
        ("      digest: weekly\n", "watch.watches.ville.digest", '"daily 08:00" or "hourly"'),
        ("      digest: daily 25:00\n", "watch.watches.ville.digest", "daily 08:00"),
        (
            "      recipients: [not-an-address]\n",
            "watch.watches.ville.recipients[0]",
            "not an e-mail",
        ),
    ],
)
def test_watch_mistakes_name_the_key(tmp_path: Path, change: str, path: str, message: str) -> None:
    text = WATCH.replace("      keywords: [Exempleville]\n", change)
    text = (
        text.replace("      recipients: [com@example.org]\n", "")
        if "recipients" in change
        else text
    )
    e = error(tmp_path, text.replace("      digest: hourly\n", "") if "digest" in change else text)
    assert e.path == path
    assert message in e.message


def test_watch_source_mistakes_name_the_key(tmp_path: Path) -> None:
    def source(block: str) -> ConfigError:
        return error(tmp_path, f"watch:\n  watches:\n    v:\n      sources:\n        s: {block}\n")

    assert source("{type: twitter}").path == "watch.watches.v.sources.s.type"
    assert source("{type: feed}").path == "watch.watches.v.sources.s.url"
    assert source("{type: feed, url: file:a.xml, q: x}").path == "watch.watches.v.sources.s.q"
    assert source("{type: bluesky}").path == "watch.watches.v.sources.s"
    e = source("{type: mastodon, api_url: 'https://m.example', mentions: true}")
    assert e.path == "watch.watches.v.sources.s.token"
    assert error(tmp_path, "watch:\n  watchez: {}\n").path == "watch.watchez"
    e = error(
        tmp_path,
        "watch:\n  watches:\n    v:\n      recipients: [a@b.example]\n"
        "      sources: {a: {type: feed, url: file:a.xml}}\n",
    )
    assert e.path == "watch.watches.v.recipients"
    assert "smtp" in e.message


# --- one duration grammar, database URLs without SQLAlchemy ----------------------------


def test_durations_read_every_unit_alike() -> None:
    assert parse_duration("250ms", "k") == 0.25
    assert parse_duration("1d", "k") == 86400
    assert parse_duration("1h30m", "k") == 5400
    assert parse_duration("1m 500ms", "k") == 60.5
    with pytest.raises(ConfigError, match="expected a duration such as 30s"):
        parse_duration("5 minutes", "k")


def test_database_urls_are_read_without_sqlalchemy() -> None:
    url = DatabaseURL.parse("postgresql+psycopg://ville:FAKE%40pw@db.example:5432/autoposter")
    assert (url.backend, url.is_sqlite, url.password, url.port) == (
        "postgresql",
        False,
        "FAKE@pw",
        5432,
    )
    assert url.safe == "postgresql+psycopg://ville:***@db.example:5432/autoposter"
    assert "FAKE" not in repr(url)
    sqlite = DatabaseURL.parse("sqlite:////srv/autoposter/autoposter.db")
    assert sqlite.is_sqlite
    assert sqlite.database == "/srv/autoposter/autoposter.db"
    with pytest.raises(ValueError, match="not a database URL"):
        DatabaseURL.parse("autoposter.db")
    with pytest.raises(ValueError, match="port"):
        DatabaseURL.parse("postgresql://h:port/db")


def test_reading_the_example_config_does_not_import_sqlalchemy() -> None:
    """SQLAlchemy costs 26 MB in every process that only reads the configuration."""
    example = Path(__file__).parent.parent / "config.example.yaml"
    script = (
        "import sys\n"
        "from autoposter.config import load_config\n"
        f"load_config({str(example)!r})\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sqlalchemy'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_console_reads_the_configuration_without_any_secret(tmp_path: Path) -> None:
    from autoposter.config import load_config
    from autoposter.publishers import writers_for

    path = tmp_path / "autoposter.yaml"
    path.write_text(
        "accounts:\n"
        "  ville_masto:\n"
        "    type: mastodon\n"
        "    api_url: https://social.example\n"
        "    access_token_file: /nowhere/mastodon-token\n"
        "  ville_x:\n"
        "    type: x\n"
        "    consumer_key: fake-consumer-key\n"
        "    consumer_secret: ${X_CONSUMER_SECRET}\n"
        "    access_token: fake-access-token\n"
        "    access_token_secret: fake-access-secret\n"
        "feeds:\n"
        "  actualites:\n"
        "    url: https://www.exemple.fr/rss\n"
        "    accounts: [ville_masto, ville_x]\n",
        encoding="utf-8",
    )
    config = load_config(path, environ={}, secrets=False)
    assert config.secrets == frozenset()
    assert sorted(config.deferred_secrets) == [
        "accounts.ville_masto.access_token_file",
        "accounts.ville_x.access_token",
        "accounts.ville_x.access_token_secret",
        "accounts.ville_x.consumer_key",
        "accounts.ville_x.consumer_secret",
    ]
    assert "fake-" not in repr(config.accounts)
    # The writers need no secret: previews render all the same.
    assert set(writers_for(config)) == {"ville_masto", "ville_x"}
    # Read as the daemon reads it, the missing token file is an error naming its key.
    with pytest.raises(ConfigError) as refused:
        load_config(path, environ={"X_CONSUMER_SECRET": "fake"})
    assert refused.value.path == "accounts.ville_masto.access_token_file"
