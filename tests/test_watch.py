"""autoposter.watch: real feed files, a real SMTP server and API doubles on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from autoposter.config import Config, load_config
from autoposter.errors import ConfigError, NotifyError
from autoposter.storage import Storage
from autoposter.watch.links import dedup_key, unwrap
from autoposter.watch.matching import find_keywords, highlight_html
from autoposter.watch.run import Watcher
from tests.clitools import ROOT, autoposter, write_config
from tests.fakes.apiserver import ApiRequest, ApiResponse, ApiServer, Fault
from tests.fakes.bluesky_search import FakeBlueskySearch, SearchPost
from tests.fakes.mastodon_search import TOKEN, FakeMastodonSearch, Status
from tests.feedserver import FeedServer
from tests.smtpserver import Mailbox, smtp_server

DEMO = ROOT / "autoposter" / "demo" / "watch"
ALERTS = (DEMO / "google-alerts.xml").read_bytes()
NEWS = (DEMO / "google-news.xml").read_bytes()
NOW = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
FIRE = "https://radio.example/infos/exempleville-un-incendie-dans-un-entrepot-de-la-zone-nord"


def config_for(
    tmp_path: Path,
    sources: dict[str, Any],
    *,
    smtp_port: int | None = None,
    database: str | None = None,
    **watch: Any,
) -> Config:
    block: dict[str, Any] = {
        "keywords": ["Exempleville"],
        "alert_keywords": ["incendie"],
        "sources": sources,
        **watch,
    }
    data: dict[str, Any] = {
        "database": database or f"sqlite:///{tmp_path}/autoposter.db",
        "timezone": "Europe/Paris",
        "watch": {"watches": {"ville": block}, **watch.pop("top", {})},
    }
    block.pop("top", None)
    if smtp_port is not None:
        data["smtp"] = {
            "host": "127.0.0.1",
            "port": smtp_port,
            "security": "none",
            "from": "autoposter@ville.example",
        }
        block.setdefault("recipients", ["com@ville.example", "maire@ville.example"])
    return load_config(write_config(tmp_path, data))


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    with FeedServer() as server:
        server.set("/alerts.xml", ALERTS, content_type="application/atom+xml")
        server.set("/news.xml", NEWS)
        yield server


@pytest.fixture
def mail() -> Iterator[tuple[int, Mailbox]]:
    with smtp_server() as found:
        yield found


def feed_sources(feeds: FeedServer) -> dict[str, Any]:
    return {
        "google_alerts": {"type": "feed", "url": feeds.url("/alerts.xml")},
        "google_news": {"type": "feed", "url": feeds.url("/news.xml")},
    }


def watcher_for(config: Config) -> Iterator[Watcher]:
    with Watcher.open(config) as watcher:
        yield watcher


# --- links and keywords ---------------------------------------------------------------


def test_google_alerts_redirector_links_are_unwrapped() -> None:
    wrapped = (
        "https://www.google.com/url?rct=j&sa=t&url=https://www.lejournal.example/a%3Fid%3D3"
        "&ct=ga&cd=CAIyGjk0&usg=AOvVaw0"
    )
    assert unwrap(wrapped) == "https://www.lejournal.example/a?id=3"
    assert unwrap("https://news.google.com/news/url?sa=t&fd=R&url=https://x.example/b") == (
        "https://x.example/b"
    )
    assert unwrap("https://www.lejournal.example/url?url=https://elsewhere.example/") == (
        "https://www.lejournal.example/url?url=https://elsewhere.example/"
    )
    assert unwrap("https://www.google.com/url?url=javascript:alert(1)").startswith(
        "https://www.google.com/"
    )
    # Tracking parameters and www. do not make a second entry.
    assert dedup_key(wrapped.replace("a%3Fid%3D3", "a%3Fid%3D3%26utm_source%3Dga")) == dedup_key(
        "https://lejournal.example/a?id=3"
    )


def test_keywords_are_whole_words_any_case_and_highlighted_escaped() -> None:
    text = "La MAIRIE d'Exempleville <script>alert(1)</script> & Exemplevilles"
    assert find_keywords(text, ["mairie", "Exempleville", "piscine"]) == ("mairie", "Exempleville")
    marked = highlight_html(text, ["exempleville"])
    assert "<mark>Exempleville</mark>" in marked
    assert "<script>" not in marked
    assert "&lt;script&gt;" in marked
    assert "&amp; Exemplevilles" in marked  # not a whole word: not marked


def test_keywords_ignore_accents_and_the_kind_of_apostrophe() -> None:
    text = "ORLEANS : la Mairie d\u2019Exempleville ouvre l\u2019Ecole Saint-Éloi"
    keywords = ["Orléans", "mairie d'Exempleville", "école", "Saint-Eloi", "Tours"]
    assert find_keywords(text, keywords) == (
        "Orléans",
        "mairie d'Exempleville",
        "école",
        "Saint-Eloi",
    )
    marked = highlight_html(text, keywords)
    # The text keeps its own spelling; only the marks are added.
    assert marked.startswith("<mark>ORLEANS</mark> : la <mark>Mairie d\u2019Exempleville</mark>")
    assert "<mark>Saint-Éloi</mark>" in marked
    # A letter that folds to two ("ß" -> "ss") keeps the marks on the right characters.
    assert highlight_html("Die Straße in Exempleville", ["strasse", "exempleville"]) == (
        "Die <mark>Straße</mark> in <mark>Exempleville</mark>"
    )


# --- feeds, dedup, storage -----------------------------------------------------------


def test_the_same_article_from_two_alert_feeds_is_one_entry(
    tmp_path: Path, feeds: FeedServer, database_url: str
) -> None:
    config = config_for(tmp_path, feed_sources(feeds), database=database_url)
    for watcher in watcher_for(config):
        report = watcher.poll("ville", alerts=False, now=NOW)
        urls = [m.match.url for m in report.new]
        assert len(urls) == 4
        assert len(set(urls)) == 4
        assert FIRE in urls
        assert not any("google.com" in url for url in urls)
        fire = next(m for m in report.new if m.match.url == FIRE)
        assert fire.match.source == "google_alerts"
        assert fire.match.alert
        assert "incendie" in fire.match.keywords
        # Polled again: nothing is new.
        assert watcher.poll("ville", alerts=False, now=NOW).new == []


def test_dedup_holds_across_polls_and_sources(tmp_path: Path, feeds: FeedServer) -> None:
    news_only = config_for(
        tmp_path, {"google_news": {"type": "feed", "url": feeds.url("/news.xml")}}
    )
    for watcher in watcher_for(news_only):
        assert len(watcher.poll("ville", alerts=False, now=NOW).new) == 2
    both = config_for(tmp_path, feed_sources(feeds))
    for watcher in watcher_for(both):
        new = watcher.poll("ville", alerts=False, now=NOW).new
        # The fire story came through Google News first: the Google Alert adds only two.
        assert sorted(m.match.source for m in new) == ["google_alerts", "google_alerts"]
        assert FIRE not in [m.match.url for m in new]


def test_retention_purges_authors_and_texts_but_keeps_dedup(
    tmp_path: Path, feeds: FeedServer, database_url: str
) -> None:
    config = config_for(
        tmp_path, feed_sources(feeds), database=database_url, top={"retention": "30d"}
    )
    assert config.watch.retention == 30 * 86400
    for watcher in watcher_for(config):
        watcher.poll("ville", alerts=False, now=NOW)
        assert watcher.purge(now=NOW + timedelta(days=29)) == 0
        assert watcher.purge(now=NOW + timedelta(days=31)) == 4
        stored = watcher.store.since(NOW - timedelta(days=1))
        assert all(m.purged and not m.match.text and not m.match.title for m in stored)
        assert all(m.match.author is None for m in stored)
        # Purged entries are still known: the feed seen again brings nothing "new".
        assert watcher.poll("ville", alerts=False, now=NOW + timedelta(days=31)).new == []
        assert watcher.purge(now=NOW + timedelta(days=40)) == 0


def test_default_retention_is_90_days(tmp_path: Path, feeds: FeedServer) -> None:
    assert config_for(tmp_path, feed_sources(feeds)).watch.retention == 90 * 86400


# --- digest over real SMTP -------------------------------------------------------------


def test_digest_is_mailed_with_both_parts_recipients_and_links(
    tmp_path: Path, feeds: FeedServer, mail: tuple[int, Mailbox]
) -> None:
    port, mailbox = mail
    config = config_for(tmp_path, feed_sources(feeds), smtp_port=port)
    for watcher in watcher_for(config):
        watcher.poll("ville", alerts=False, now=NOW)
        digest = watcher.send_digest("ville", now=NOW)
        assert digest is not None
        assert mailbox.arrived.wait(5)
        message = mailbox.messages[0]
        assert message["Subject"] == "[autoposter] ville: 4 new mentions"
        assert message.get_content_type() == "multipart/alternative"
        assert mailbox.envelopes[0][1] == ["com@ville.example", "maire@ville.example"]
        text_part = message.get_body(("plain",))
        html_part = message.get_body(("html",))
        assert isinstance(text_part, EmailMessage)
        assert isinstance(html_part, EmailMessage)
        text, html = text_part.get_content(), html_part.get_content()
        assert "== google_alerts (3) ==" in text
        assert "== google_news (1) ==" in text
        assert FIRE in text
        assert "[ALERT]" in text
        assert f'<a href="{FIRE}">' in html
        assert "<mark>Exempleville</mark>" in html
        assert "<mark>incendie</mark>" in html
        assert "<h2>google_alerts (3)</h2>" in html
        assert "google.com/url" not in text + html
        # Sent entries are not sent again; nothing new sends nothing.
        assert watcher.send_digest("ville", now=NOW) is None
        assert len(mailbox.messages) == 1


def test_an_empty_digest_is_sent_only_with_send_empty(
    tmp_path: Path, mail: tuple[int, Mailbox]
) -> None:
    port, mailbox = mail
    empty = tmp_path / "empty.xml"
    empty.write_text('<rss version="2.0"><channel><title>x</title></channel></rss>')
    sources = {"alerts": {"type": "feed", "url": empty.as_uri()}}
    quiet = config_for(tmp_path, sources, smtp_port=port)
    for watcher in watcher_for(quiet):
        watcher.poll("ville", now=NOW)
        assert watcher.send_digest("ville", now=NOW) is None
    assert mailbox.messages == []
    loud = config_for(tmp_path, sources, smtp_port=port, send_empty=True)
    for watcher in watcher_for(loud):
        assert watcher.send_digest("ville", now=NOW) is not None
    assert mailbox.arrived.wait(5)
    assert mailbox.messages[0]["Subject"] == "[autoposter] ville: nothing new"


def test_a_digest_not_accepted_stays_to_send(tmp_path: Path, feeds: FeedServer) -> None:
    with smtp_server() as (port, _mailbox):
        pass  # a port nobody listens on any more
    config = config_for(tmp_path, feed_sources(feeds), smtp_port=port)
    for watcher in watcher_for(config):
        watcher.poll("ville", alerts=False, now=NOW)
        with pytest.raises(NotifyError, match="mail server"):
            watcher.send_digest("ville", now=NOW)
        assert len(watcher.store.undigested("ville")) == 4


# --- alerts ----------------------------------------------------------------------------


def test_alerts_are_immediate_and_rate_limited(tmp_path: Path, mail: tuple[int, Mailbox]) -> None:
    port, mailbox = mail
    feed = tmp_path / "alerts.xml"

    def publish(n: int) -> None:
        items = "".join(
            f"<item><title>Incendie numéro {i} à Exempleville</title>"
            f"<link>https://news.example/fire-{i}</link></item>"
            for i in range(n)
        )
        feed.write_text(f'<rss version="2.0"><channel><title>a</title>{items}</channel></rss>')

    sources = {"alerts": {"type": "feed", "url": feed.as_uri()}}
    config = config_for(tmp_path, sources, smtp_port=port, alert_max_per_hour=2)
    for watcher in watcher_for(config):
        publish(3)
        report = watcher.poll("ville", now=NOW)
        assert (report.alerted, report.alerts_held) == (2, 1)
        publish(4)
        report = watcher.poll("ville", now=NOW + timedelta(minutes=30))
        assert (report.alerted, report.alerts_held) == (0, 1)
        publish(5)
        report = watcher.poll("ville", now=NOW + timedelta(minutes=61))
        assert (report.alerted, report.alerts_held) == (1, 0)
        # Held alerts are not lost: the digest flags them.
        digest, _ = watcher.build_digest("ville", now=NOW)
        assert digest.text.count("[ALERT]") == 5
    subjects = [m["Subject"] for m in mailbox.messages]
    assert len(subjects) == 3
    assert all(s.startswith("[autoposter] ALERT ville: ") for s in subjects)


def test_the_webhook_gets_alerts_and_digests_as_signed_json(
    tmp_path: Path, feeds: FeedServer
) -> None:
    received: list[ApiRequest] = []

    def hook(request: ApiRequest) -> ApiResponse:
        received.append(request)
        return ApiResponse(status=204)

    with ApiServer() as server:
        server.route("POST", r"/hook", hook)
        config = config_for(
            tmp_path,
            feed_sources(feeds),
            top={"webhook": {"url": f"{server.url}/hook", "secret": "FAKE-SECRET"}},
        )
        for watcher in watcher_for(config):
            watcher.poll("ville", now=NOW)
            watcher.send_digest("ville", now=NOW)
    events = [r.json()["event"] for r in received]
    assert events == ["watch.alert", "watch.digest"]
    assert received[0].json()["match"]["url"] == FIRE
    assert len(received[1].json()["matches"]) == 4
    assert received[1].headers["x-autoposter-signature"].startswith("sha256=")
    assert received[1].headers["content-type"] == "application/json"


# --- Bluesky and Mastodon doubles ------------------------------------------------------


def test_bluesky_search_by_words_domain_and_mentions(tmp_path: Path) -> None:
    with FakeBlueskySearch() as bsky:
        bsky.add_post(SearchPost("alice.bsky.social", "3kaaa", "Bravo Exempleville pour le marché"))
        bsky.add_post(
            SearchPost(
                "bob.bsky.social",
                "3kbbb",
                "Lu sur le site de la mairie",
                link="https://www.exempleville.example/actualites/marche",
            )
        )
        bsky.add_post(
            SearchPost(
                "carol.bsky.social",
                "3kccc",
                "@exempleville.example un incendie rue Haute !",
                mentions=("exempleville.example",),
            )
        )
        api = bsky.url
        config = config_for(
            tmp_path,
            {
                "words": {"type": "bluesky", "api_url": api, "q": "Exempleville"},
                "site": {"type": "bluesky", "api_url": api, "domain": "exempleville.example"},
                "mentions": {"type": "bluesky", "api_url": api, "mentions": "exempleville.example"},
            },
        )
        for watcher in watcher_for(config):
            new = watcher.poll("ville", alerts=False, now=NOW).new
        queries = [r.query for r in bsky.requests_to("GET", r"/xrpc/app\.bsky\.feed\.searchPosts")]
    by_source = {m.match.source: m.match for m in new}
    assert by_source["words"].url == "https://bsky.app/profile/alice.bsky.social/post/3kaaa"
    assert by_source["words"].keywords == ("Exempleville",)
    assert by_source["site"].url.endswith("/bob.bsky.social/post/3kbbb")
    assert by_source["mentions"].alert
    assert by_source["mentions"].author == ("carol.bsky.social (@carol.bsky.social)")
    # write_config sorts the keys: mentions, site, words.
    assert queries[2]["q"] == ["Exempleville"]
    assert queries[2]["sort"] == ["latest"]
    assert queries[1]["domain"] == ["exempleville.example"]
    assert queries[1]["q"] == ["*"]
    assert queries[0]["mentions"] == ["exempleville.example"]


BSKY_PASSWORD = "FAKE-app-pass-word"


def logged_in_config(tmp_path: Path, bsky: FakeBlueskySearch, password: str) -> Config:
    data = {
        "database": f"sqlite:///{tmp_path}/autoposter.db",
        "accounts": {
            "ville_bsky": {
                "type": "bluesky",
                "handle": "ville.example",
                "app_password": password,
                "api_url": bsky.url,
            }
        },
        "watch": {
            "watches": {
                "ville": {
                    "keywords": ["Exempleville"],
                    "sources": {
                        "anonymous": {"type": "bluesky", "api_url": bsky.url, "q": "Exempleville"},
                        "logged_in": {
                            "type": "bluesky",
                            "account": "ville_bsky",
                            "q": "Exempleville",
                        },
                    },
                }
            }
        },
    }
    return load_config(write_config(tmp_path, data))


def test_bluesky_search_logs_in_as_the_account_when_anonymous_search_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with FakeBlueskySearch() as bsky:
        bsky.require_auth = True
        bsky.session_uses = 1  # every session expires after one search
        bsky.app_passwords = {"ville.example": BSKY_PASSWORD}
        bsky.add_post(SearchPost("alice.bsky.social", "3kaaa", "Bravo Exempleville"))
        config = logged_in_config(tmp_path, bsky, BSKY_PASSWORD)
        for watcher in watcher_for(config):
            first = watcher.poll("ville", alerts=False, now=NOW)
            bsky.add_post(SearchPost("bob.bsky.social", "3kbbb", "Exempleville, encore"))
            second = watcher.poll("ville", alerts=False, now=NOW + timedelta(minutes=20))
        logins = bsky.requests_to("POST", r"/xrpc/com\.atproto\.server\.createSession")
        searches = bsky.requests_to("GET", r"/xrpc/app\.bsky\.feed\.searchPosts")
    # Anonymous: refused, and the error says what to do.
    assert "403 (AuthMissing)" in first.errors["anonymous"]
    assert "give this source 'account:'" in first.errors["anonymous"]
    # Logged in: found, then, its session expired, logged in again and found the next one.
    assert [m.match.url for m in first.new] == [
        "https://bsky.app/profile/alice.bsky.social/post/3kaaa"
    ]
    assert [m.match.url for m in second.new] == [
        "https://bsky.app/profile/bob.bsky.social/post/3kbbb"
    ]
    assert "logged_in" not in second.errors
    assert len(logins) == 2
    assert [r.json()["identifier"] for r in logins] == ["ville.example", "ville.example"]
    bearers = [r.headers.get("authorization") for r in searches]
    assert "Bearer fake-access-jwt-1" in bearers
    assert "Bearer fake-access-jwt-2" in bearers
    assert BSKY_PASSWORD not in caplog.text


def test_a_refused_bluesky_login_names_the_account_not_the_password(tmp_path: Path) -> None:
    with FakeBlueskySearch() as bsky:
        bsky.app_passwords = {"ville.example": BSKY_PASSWORD}
        config = logged_in_config(tmp_path, bsky, "FAKE-wrong-password")
        for watcher in watcher_for(config):
            report = watcher.poll("ville", alerts=False, now=NOW)
    error = report.errors["logged_in"]
    assert "login refused for ville.example (account ville_bsky)" in error
    assert "FAKE-wrong-password" not in error


def test_a_bluesky_source_account_must_be_a_bluesky_account(tmp_path: Path) -> None:
    data = {
        "accounts": {"console": {"type": "console"}},
        "watch": {
            "watches": {
                "ville": {
                    "sources": {"b": {"type": "bluesky", "account": "console", "q": "x"}},
                }
            }
        },
    }
    with pytest.raises(ConfigError) as raised:
        load_config(write_config(tmp_path, data))
    assert "watch.watches.ville.sources.b.account" in str(raised.value)
    assert "not a bluesky account" in str(raised.value)


def test_mastodon_hashtag_mentions_and_search(tmp_path: Path) -> None:
    with FakeMastodonSearch() as masto:
        masto.add(
            Status(
                "1",
                "alice@piaille.example",
                "<p>Le <a>#Exempleville</a> en fête</p>",
                tags=("Exempleville",),
            )
        )
        masto.add(
            Status(
                "2", "bob", "<p>@ville pourquoi la piscine est fermée&nbsp;?</p>", mentions_us=True
            )
        )
        masto.add(Status("3", "carol", "<p>Pollution à Exempleville ? &lt;b&gt;</p>"))
        config = config_for(
            tmp_path,
            {
                "tag": {"type": "mastodon", "api_url": masto.url, "hashtag": "#exempleville"},
                "mentions": {
                    "type": "mastodon",
                    "api_url": masto.url,
                    "mentions": True,
                    "token": TOKEN,
                },
                "search": {
                    "type": "mastodon",
                    "api_url": masto.url,
                    "q": "pollution",
                    "token": TOKEN,
                },
            },
        )
        for watcher in watcher_for(config):
            new = watcher.poll("ville", alerts=False, now=NOW).new
        notif = masto.requests_to("GET", r"/api/v1/notifications")[0]
    by_source = {m.match.source: m.match for m in new}
    assert by_source["tag"].url == f"{masto.url}/@alice/1"
    assert by_source["tag"].text == "Le #Exempleville en fête"
    assert by_source["mentions"].text == "@ville pourquoi la piscine est fermée ?"
    assert by_source["search"].text == "Pollution à Exempleville ? <b>"
    assert notif.query["types[]"] == ["mention"]
    assert notif.headers["authorization"] == f"Bearer {TOKEN}"


def test_sources_fail_independently_and_back_off(tmp_path: Path, feeds: FeedServer) -> None:
    with FakeBlueskySearch() as bsky:
        bsky.fail(
            "GET",
            r"/xrpc/app\.bsky\.feed\.searchPosts",
            Fault(status=429, headers={"Retry-After": "600"}),
        )
        feeds.set("/broken.xml", b"", status=500)
        sources = {
            **feed_sources(feeds),
            "broken": {"type": "feed", "url": feeds.url("/broken.xml")},
            "bsky": {"type": "bluesky", "api_url": bsky.url, "q": "Exempleville"},
        }
        config = config_for(tmp_path, sources)
        for watcher in watcher_for(config):
            report = watcher.poll("ville", alerts=False, now=NOW)
            assert len(report.new) == 4
            assert set(report.errors) == {"broken", "bsky"}
            assert "500" in report.errors["broken"]
            assert "429" in report.errors["bsky"]
            calls = len(bsky.requests_to("GET", r"/xrpc/app\.bsky\.feed\.searchPosts"))
            # Within Retry-After: the network is not asked again.
            report = watcher.poll("ville", alerts=False, now=NOW + timedelta(minutes=5))
            assert report.errors["bsky"] == "backing off after failures"
            assert len(bsky.requests_to("GET", r"/xrpc/app\.bsky\.feed\.searchPosts")) == calls
            report = watcher.poll("ville", alerts=False, now=NOW + timedelta(minutes=11))
            assert "bsky" not in report.errors


def test_the_digest_says_which_sources_have_been_failing(
    tmp_path: Path, feeds: FeedServer, mail: tuple[int, Mailbox]
) -> None:
    port, mailbox = mail
    feeds.set("/broken.xml", b"", status=500)
    sources = {
        **feed_sources(feeds),
        "broken": {"type": "feed", "url": feeds.url("/broken.xml")},
    }
    config = config_for(tmp_path, sources, smtp_port=port)
    for watcher in watcher_for(config):
        watcher.poll("ville", alerts=False, now=NOW)
        assert watcher.send_digest("ville", now=NOW) is not None
        # Nothing new, but a source still failing: the digest still goes, to say so.
        later = NOW + timedelta(days=1)
        watcher.poll("ville", alerts=False, now=later)
        assert watcher.send_digest("ville", now=later) is not None
    assert mailbox.arrived.wait(5)
    assert len(mailbox.messages) == 2
    for message in mailbox.messages:
        text_part = message.get_body(("plain",))
        html_part = message.get_body(("html",))
        assert isinstance(text_part, EmailMessage)
        assert isinstance(html_part, EmailMessage)
        text, html = text_part.get_content(), html_part.get_content()
        assert "== sources failing (1) ==" in text
        assert "* broken: failing since 2026-11-24 08:00 (" in text
        assert "500" in text
        assert "<h2>Sources failing (1)</h2>" in html
        assert "<strong>broken</strong>: failing since 2026-11-24 08:00" in html
        assert "google_alerts:" not in text


def test_a_huge_api_answer_is_cut_off(tmp_path: Path) -> None:
    with FakeBlueskySearch() as bsky:
        for i in range(50):
            bsky.add_post(SearchPost("a.bsky.social", f"3k{i:03}", "Exempleville " * 50))
        config = config_for(
            tmp_path,
            {
                "bsky": {
                    "type": "bluesky",
                    "api_url": bsky.url,
                    "q": "Exempleville",
                    "max_bytes": "4KB",
                }
            },
        )
        for watcher in watcher_for(config):
            report = watcher.poll("ville", alerts=False, now=NOW)
    assert "limit" in report.errors["bsky"]


# --- the commands ----------------------------------------------------------------------


def test_digest_dry_run_on_the_shipped_demo_works_offline() -> None:
    result = autoposter(
        "digest", "send", "--dry-run", "--config", str(ROOT / "autoposter/demo/watch.yaml")
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Subject: [autoposter] exempleville: 4 new mentions" in out
    assert "To: communication@exempleville.example" in out
    assert "== google_alerts (3) ==" in out
    assert "== google_news (1) ==" in out
    assert FIRE in out
    assert "google.com/url" not in out


def test_watch_run_then_mentions_json(tmp_path: Path) -> None:
    data = {
        "database": f"sqlite:///{tmp_path}/a.db",
        "watch": {
            "watches": {
                "ville": {
                    "keywords": ["Exempleville"],
                    "sources": {
                        "alerts": {"type": "feed", "url": (DEMO / "google-alerts.xml").as_uri()}
                    },
                }
            }
        },
    }
    path = str(write_config(tmp_path, data))
    run = autoposter("watch", "run", "--once", "--config", path)
    assert run.returncode == 0, run.stderr
    assert "ville: 3 new" in run.stdout
    listed = autoposter("mentions", "--json", "--since", "2d", "--watch", "ville", "--config", path)
    assert listed.returncode == 0, listed.stderr
    found = json.loads(listed.stdout)
    assert len(found) == 3
    assert {m["source"] for m in found} == {"alerts"}
    assert FIRE in [m["url"] for m in found]
    human = autoposter("mentions", "--config", path)
    assert "[ville/alerts]" in human.stdout
    unknown = autoposter("mentions", "--watch", "nope", "--config", path)
    assert unknown.returncode != 0
    assert "unknown watch" in unknown.stderr


# --- the daemon's jobs -----------------------------------------------------------------


def test_the_daemon_schedules_polls_digests_and_purge(tmp_path: Path, feeds: FeedServer) -> None:
    from apscheduler.triggers.cron import CronTrigger

    from autoposter.daemon import build_scheduler, sync_jobs
    from autoposter.runtime import Runtime
    from autoposter.watch.schedule import close_watch_jobs

    config = config_for(tmp_path, feed_sources(feeds), digest="daily 07:30")
    runtime = Runtime.start(config, parse_workers=0)
    try:
        scheduler = build_scheduler(runtime)
        ids = {job.id for job in scheduler.get_jobs()}
        assert {"watch:ville", "digest:ville", "watch-purge"} <= ids
        trigger = scheduler.get_job("digest:ville").trigger
        assert isinstance(trigger, CronTrigger)
        assert str(trigger.timezone) == "Europe/Paris"
        assert "hour='7'" in str(trigger)
        assert "minute='30'" in str(trigger)
        # A reload to hourly digests, then to no watch at all.
        hourly = config_for(tmp_path, feed_sources(feeds), digest="hourly")
        runtime.replace_config(hourly, runtime.publishers)
        sync_jobs(scheduler, runtime, config)
        assert str(scheduler.get_job("digest:ville").trigger) == "cron[minute='0']"
        bare = load_config(write_config(tmp_path, {"database": config.database}))
        runtime.replace_config(bare, runtime.publishers)
        sync_jobs(scheduler, runtime, hourly)
        assert not [j for j in scheduler.get_jobs() if j.id.startswith(("watch", "digest"))]
        close_watch_jobs(scheduler)
    finally:
        runtime.close()


def test_the_commented_watch_block_of_the_example_config_loads(tmp_path: Path) -> None:
    example = (ROOT / "config.example.yaml").read_text(encoding="utf-8")
    start = example.index("# watch:")
    block = "\n".join(line.removeprefix("# ") for line in example[start:].splitlines())
    text = "smtp: {host: smtp.example.org, from: a@example.org}\n" + block + "\n"
    path = tmp_path / "autoposter.yaml"
    path.write_text(text, encoding="utf-8")
    config = load_config(path, {"MASTODON_TOKEN": "FAKE-TOKEN"})
    watch = config.watch.watches["ville"]
    assert [s.type for s in watch.sources] == ["feed", "feed", "bluesky", "bluesky", "mastodon"]
    assert watch.digest[0] == "daily"
    # Its feed sources are the shipped samples, so the digest can be tried offline.
    samples = [str(s.url) for s in watch.sources if s.type == "feed"]
    # Relative to the configuration's folder: the repository's, for config.example.yaml.
    local = [Path(url.removeprefix("file://")).relative_to(tmp_path) for url in samples]
    assert [str(p) for p in local] == [
        "autoposter/demo/watch/google-alerts.xml",
        "autoposter/demo/watch/google-news.xml",
    ]
    assert all((ROOT / p).is_file() for p in local)


def test_the_atom_feed_stays_readable_whatever_a_post_contains() -> None:
    from xml.etree import ElementTree as ET

    from autoposter.storage.watch import Match, StoredMatch
    from autoposter.watch.atom import atom_feed

    hostile = Match(
        watch="ville",
        source="bsky",
        url="https://bsky.app/profile/x/post/1?a=1&b=<2>",
        canonical_url="https://bsky.app/profile/x/post/1",
        title="Un \x00titre\x0b avec </title> & \x1b[31mcouleur",
        author="Mallory \ufffe",
        text="<script>alert(1)</script> \x08fin",
        keywords=("Exempleville",),
    )
    stored = StoredMatch(1, hostile, NOW, None, None, purged=False)
    document = ET.fromstring(atom_feed("ville", [stored], now=NOW))
    ns = {"a": "http://www.w3.org/2005/Atom"}
    entry = document.find("a:entry", ns)
    assert entry is not None
    assert entry.findtext("a:title", namespaces=ns) == "Un titre avec </title> & [31mcouleur"
    assert entry.findtext("a:summary", namespaces=ns) == "<script>alert(1)</script> fin"
    link = entry.find("a:link", ns)
    assert link is not None
    assert link.get("href") == "https://bsky.app/profile/x/post/1?a=1&b=<2>"
    assert entry.findtext("a:author/a:name", namespaces=ns) == "Mallory "


def test_the_http_listener_serves_each_watch_as_atom(tmp_path: Path, feeds: FeedServer) -> None:
    import httpx

    from autoposter.health import Health, HealthServer
    from autoposter.parse import parse_feed
    from autoposter.watch.atom import watch_atom

    config = config_for(tmp_path, feed_sources(feeds))
    with Storage.open(config.database) as storage:
        watcher = Watcher(config, storage)
        watcher.poll("ville", alerts=False)
        watcher.close()
        store = storage.watch_store()
        health = Health(lambda: storage, lambda: True, max_silence=60)
        server = HealthServer(
            "127.0.0.1", 0, health, watch_feed=lambda name: watch_atom(config, store, name)
        )
        with server:
            base = f"http://127.0.0.1:{server.port}"
            answer = httpx.get(f"{base}/watch/ville.atom", timeout=5)
            missing = httpx.get(f"{base}/watch/nope.atom", timeout=5)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/atom+xml")
    parsed = parse_feed(
        answer.content, url=f"{base}/watch/ville.atom", headers={}, default_language="fr"
    )
    assert len(parsed.items) == 4
    assert FIRE in [item.link for item in parsed.items]
    assert any(item.title.startswith("[ALERT] ") for item in parsed.items)
    assert missing.status_code == 404


def _sent(storage: Storage, account: str, title: str, remote_id: str) -> None:
    from autoposter.storage import NewItem, PlannedDelivery
    from autoposter.types import Item

    item = Item(key=remote_id, link=f"https://www.ville.example/{remote_id[-4:]}", title=title)
    at = datetime.now(UTC) - timedelta(hours=2)
    storage.record_poll(
        "actu",
        "https://www.ville.example/feed",
        at,
        [NewItem(item, (PlannedDelivery(account),))],
        baseline=False,
        etag=None,
        last_modified=None,
        body_hash=None,
    )
    delivery = next(d for d in storage.due_deliveries(at) if d.item.key == remote_id)
    assert storage.mark_sending(delivery.id, at, attempts=delivery.attempts)
    assert storage.mark_sent(delivery.id, at, remote_id=remote_id, remote_url=None)


def test_replies_under_our_own_posts_on_bluesky_and_mastodon(tmp_path: Path) -> None:
    with FakeBlueskySearch() as bsky, FakeMastodonSearch() as masto:
        ours = SearchPost("ville.example", "3kour", "Fermeture de la piscine")
        root_uri = str(ours.view()["uri"])
        bsky.threads[root_uri] = ours
        question = SearchPost("dan.bsky.social", "3kq01", "Et les scolaires, ils nagent où ?")
        question_uri = bsky.add_reply(root_uri, question)
        bsky.add_reply(question_uri, SearchPost("ville.example", "3kans", "Au centre aquatique."))
        bsky.add_reply(question_uri, SearchPost("eve.bsky.social", "3kq02", "Un incendie ?"))
        masto.add(Status("100", "ville", "<p>Fermeture de la piscine</p>"))
        masto.add(Status("101", "fred@piaille.example", "<p>Quand rouvre-t-elle ?</p>"))
        masto.add(Status("102", "ville", "<p>En mars.</p>"))
        masto.replies = {"100": ["101"], "101": ["102"]}
        data = {
            "database": f"sqlite:///{tmp_path}/autoposter.db",
            "accounts": {
                "ville_bsky": {
                    "type": "bluesky",
                    "handle": "ville.example",
                    "app_password": "FAKE-aaaa-bbbb-cccc",
                },
                "ville_masto": {"type": "mastodon", "api_url": masto.url, "access_token": TOKEN},
            },
            "watch": {
                "watches": {
                    "ville": {
                        "alert_keywords": ["incendie"],
                        "sources": {
                            "replies": {
                                "type": "replies",
                                "api_url": bsky.url,
                                "accounts": ["ville_bsky", "ville_masto"],
                            }
                        },
                    }
                }
            },
        }
        config = load_config(write_config(tmp_path, data))
        with Storage.open(config.database) as storage:
            _sent(storage, "ville_bsky", "Fermeture de la piscine", root_uri)
            _sent(storage, "ville_masto", "Fermeture de la piscine", "100")
            watcher = Watcher(config, storage)
            new = watcher.poll("ville", alerts=False, now=NOW).new
            watcher.close()
        context = masto.requests_to("GET", r"/api/v1/statuses/100/context")
    found = {m.match.url: m.match for m in new}
    assert set(found) == {
        "https://bsky.app/profile/dan.bsky.social/post/3kq01",
        "https://bsky.app/profile/eve.bsky.social/post/3kq02",
        f"{masto.url}/@fred/101",
    }
    assert all(m.title == "Reply to: Fermeture de la piscine" for m in found.values())
    assert found["https://bsky.app/profile/eve.bsky.social/post/3kq02"].alert
    assert context[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_replies_need_bluesky_or_mastodon_accounts(tmp_path: Path) -> None:

    data = {
        "accounts": {"console": {"type": "console"}},
        "watch": {
            "watches": {
                "v": {"sources": {"r": {"type": "replies", "accounts": ["console"]}}},
            }
        },
    }
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path, data))
    assert info.value.path == "watch.watches.v.sources.r.accounts[0]"


def test_every_registered_source_type_names_itself() -> None:
    from autoposter.watch.sources import SOURCE_TYPES, options_of, source_class

    for kind in SOURCE_TYPES:
        cls = source_class(kind)
        assert cls.kind == kind
        required, optional = options_of(cls)
        assert not {"type", "timeout", "max_bytes"} & {*required, *optional}


def test_a_watch_source_key_of_another_type_lists_the_allowed_ones(tmp_path: Path) -> None:
    data = {"watch": {"watches": {"v": {"sources": {"f": {"type": "feed", "hashtag": "x"}}}}}}
    with pytest.raises(ConfigError) as raised:
        load_config(write_config(tmp_path, data))
    assert raised.value.path == "watch.watches.v.sources.f.hashtag"
    assert "allowed keys: type, url, timeout, max_bytes" in raised.value.message
