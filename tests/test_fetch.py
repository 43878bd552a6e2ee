"""Fetcher against a real HTTP server on 127.0.0.1 (tests/feedserver.py); no mocks."""

from __future__ import annotations

import hashlib
import ipaddress
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from autoposter.errors import FetchError
from autoposter.fetch import ACCEPT, DEFAULT_USER_AGENT, Fetcher, redact_url
from autoposter.types import Fetched, NotModified
from tests.feedserver import FeedServer

RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Ville</title>
<link>https://ville.example/</link><item><title>Conseil</title><link>/a</link></item>
</channel></rss>"""
MB = 1024 * 1024


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as s:
        yield s


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    with Fetcher() as f:
        yield f


def fetched(result: Fetched | NotModified) -> Fetched:
    assert isinstance(result, Fetched), result
    return result


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- success and conditional GET ---------------------------------------------------


def test_200_gives_body_headers_and_hash(server: FeedServer, fetcher: Fetcher) -> None:
    server.set("/feed.xml", RSS, headers={"X-Custom": "yes"})
    result = fetched(fetcher.fetch(server.url("/feed.xml")))
    assert result.url == server.url("/feed.xml")
    assert result.body == RSS
    assert result.body_hash == hashlib.sha256(RSS).hexdigest()
    assert result.headers["content-type"] == "application/rss+xml"
    assert result.headers["x-custom"] == "yes"
    assert result.headers["content-location"] == server.url("/feed.xml")
    assert all(k == k.lower() for k in result.headers)
    assert result.etag == '"' + hashlib.sha1(RSS).hexdigest() + '"'
    assert result.last_modified is None


def test_user_agent_and_accept_sent(server: FeedServer) -> None:
    server.set("/feed.xml", RSS)
    with Fetcher() as default:
        default.fetch(server.url("/feed.xml"))
    with Fetcher(user_agent="ville-bot/1") as custom:
        custom.fetch(server.url("/feed.xml"))
    first, second = server.requests_to("/feed.xml")
    assert first.headers["user-agent"] == DEFAULT_USER_AGENT
    assert DEFAULT_USER_AGENT.startswith("autoposter/")
    assert first.headers["accept"] == ACCEPT
    assert "if-none-match" not in first.headers
    assert second.headers["user-agent"] == "ville-bot/1"


def test_etag_round_trip_gives_not_modified(server: FeedServer, fetcher: Fetcher) -> None:
    server.set("/feed.xml", RSS)
    first = fetched(fetcher.fetch(server.url("/feed.xml")))
    again = fetcher.fetch(server.url("/feed.xml"), etag=first.etag)
    assert again == NotModified(server.url("/feed.xml"))
    assert server.requests_to("/feed.xml")[1].headers["if-none-match"] == first.etag
    # A changed body has a new ETag: full answer.
    server.set("/feed.xml", RSS + b"\n")
    assert isinstance(fetcher.fetch(server.url("/feed.xml"), etag=first.etag), Fetched)


def test_last_modified_round_trip_gives_not_modified(server: FeedServer, fetcher: Fetcher) -> None:
    stamp = "Tue, 10 Nov 2026 08:00:00 GMT"
    server.set("/feed.xml", RSS, etag=False, last_modified=stamp)
    first = fetched(fetcher.fetch(server.url("/feed.xml")))
    assert first.etag is None
    assert first.last_modified == stamp
    again = fetcher.fetch(server.url("/feed.xml"), last_modified=first.last_modified)
    assert isinstance(again, NotModified)
    assert server.requests_to("/feed.xml")[1].headers["if-modified-since"] == stamp


def test_server_ignoring_validators_gives_full_body(server: FeedServer, fetcher: Fetcher) -> None:
    server.set("/feed.xml", RSS, validators=False)
    first = fetched(fetcher.fetch(server.url("/feed.xml")))
    assert isinstance(fetcher.fetch(server.url("/feed.xml"), etag=first.etag), Fetched)


def test_unsendable_validator_is_dropped_not_fatal(server: FeedServer, fetcher: Fetcher) -> None:
    server.set("/feed.xml", RSS)
    assert isinstance(fetcher.fetch(server.url("/feed.xml"), etag='"caf\u00e9\u2603"'), Fetched)
    assert isinstance(fetcher.fetch(server.url("/feed.xml"), etag='"a"\r\nX-Evil: 1'), Fetched)
    assert all("x-evil" not in r.headers for r in server.requests)


def test_304_without_conditional_request_is_an_error(server: FeedServer, fetcher: Fetcher) -> None:
    server.set("/feed.xml", b"", status=304, etag=False)
    with pytest.raises(FetchError, match="304") as info:
        fetcher.fetch(server.url("/feed.xml"))
    assert info.value.status == 304


# -- redirects ----------------------------------------------------------------------


def test_relative_and_absolute_redirects_followed(server: FeedServer, fetcher: Fetcher) -> None:
    server.set("/new/feed.xml", RSS)
    server.redirect("/old/feed.xml", "../new/feed.xml", status=301)
    server.redirect("/start", server.url("/old/feed.xml"))
    result = fetched(fetcher.fetch(server.url("/start")))
    assert result.body == RSS
    assert result.url == server.url("/new/feed.xml")
    assert result.headers["content-location"] == server.url("/new/feed.xml")
    assert [r.path for r in server.requests] == ["/start", "/old/feed.xml", "/new/feed.xml"]


def test_conditional_headers_survive_redirect(server: FeedServer, fetcher: Fetcher) -> None:
    server.set("/feed.xml", RSS)
    server.redirect("/old", "/feed.xml", status=308)
    first = fetched(fetcher.fetch(server.url("/old")))
    assert fetcher.fetch(server.url("/old"), etag=first.etag) == NotModified(
        server.url("/feed.xml")
    )


def test_redirect_loop_is_an_error(server: FeedServer, fetcher: Fetcher) -> None:
    server.redirect("/a", "/b")
    server.redirect("/b", "/a")
    with pytest.raises(FetchError, match="redirect loop"):
        fetcher.fetch(server.url("/a"))
    assert len(server.requests) == 2


def test_too_many_redirects(server: FeedServer) -> None:
    for i in range(4):
        server.redirect(f"/r{i}", f"/r{i + 1}")
    server.set("/r4", RSS)
    with Fetcher(max_redirects=4) as fetcher:
        assert fetched(fetcher.fetch(server.url("/r0"))).body == RSS
    with Fetcher(max_redirects=3) as fetcher, pytest.raises(FetchError, match="too many redirects"):
        fetcher.fetch(server.url("/r0"))


@pytest.mark.parametrize(
    "location", ["file:///etc/passwd", "ftp://127.0.0.1/feed", "javascript:alert(1)"]
)
def test_redirect_to_other_scheme_refused(
    server: FeedServer, fetcher: Fetcher, location: str
) -> None:
    server.redirect("/feed.xml", location)
    with pytest.raises(FetchError, match=r"unsupported URL scheme|invalid redirect Location"):
        fetcher.fetch(server.url("/feed.xml"))


def test_redirect_without_location_is_an_error(server: FeedServer, fetcher: Fetcher) -> None:
    server.set("/feed.xml", b"", status=302, etag=False)
    with pytest.raises(FetchError, match="without a Location") as info:
        fetcher.fetch(server.url("/feed.xml"))
    assert info.value.status == 302


# -- time bounds ----------------------------------------------------------------------


def test_slow_server_times_out(server: FeedServer, fetcher: Fetcher) -> None:
    server.set("/slow", RSS, delay=5)
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"timed out after 0\.5 s"):
        fetcher.fetch(server.url("/slow"), timeout=0.5)
    assert time.monotonic() - started < 1.5


def test_trickle_cannot_beat_the_overall_deadline(server: FeedServer, fetcher: Fetcher) -> None:
    # One byte every 0.1 s: each read is well within the read timeout.
    server.set("/trickle", RSS, trickle=(1, 0.1))
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"timed out after 0\.5 s"):
        fetcher.fetch(server.url("/trickle"), timeout=0.5)
    assert time.monotonic() - started < 1.2


def test_deadline_applies_inside_a_blocked_read(server: FeedServer, fetcher: Fetcher) -> None:
    # Headers at 0.5 s, then silence: a read timeout alone would wait until 1.5 s.
    server.set("/stall", RSS, delay=0.5, trickle=(1, 5.0))
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"timed out after 1 s"):
        fetcher.fetch(server.url("/stall"), timeout=1.0)
    assert time.monotonic() - started < 1.4


# -- size bounds ----------------------------------------------------------------------


def test_huge_streamed_body_aborted_at_cap(server: FeedServer, fetcher: Fetcher) -> None:
    server.set("/huge", size=50 * MB, content_length=False)
    started = time.monotonic()
    with pytest.raises(FetchError, match="larger than 1 MB limit"):
        fetcher.fetch(server.url("/huge"), max_bytes=MB)
    assert time.monotonic() - started < 2
    assert server.wait_idle(5)
    assert server.bytes_sent("/huge") < 20 * MB


def test_content_length_over_cap_rejected_before_reading(
    server: FeedServer, fetcher: Fetcher
) -> None:
    server.set("/big", size=50 * MB, trickle=(64 * 1024, 0.5))
    started = time.monotonic()
    with pytest.raises(FetchError, match="larger than 1 MB limit"):
        fetcher.fetch(server.url("/big"), max_bytes=MB)
    assert time.monotonic() - started < 0.4


def test_body_exactly_at_cap_is_accepted(server: FeedServer, fetcher: Fetcher) -> None:
    server.set("/exact", size=MB, content_length=False)
    assert len(fetched(fetcher.fetch(server.url("/exact"), max_bytes=MB)).body) == MB


def test_gzip_body_decoded(server: FeedServer, fetcher: Fetcher) -> None:
    server.set("/feed.xml", RSS, gzip=True)
    result = fetched(fetcher.fetch(server.url("/feed.xml")))
    assert result.body == RSS
    assert result.body_hash == hashlib.sha256(RSS).hexdigest()
    assert "content-encoding" not in result.headers
    assert server.requests[0].headers["accept-encoding"] == "gzip, deflate"


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS], ids=["zlib", "raw"])
def test_deflate_body_decoded(server: FeedServer, fetcher: Fetcher, wbits: int) -> None:
    compressor = zlib.compressobj(wbits=wbits)
    body = compressor.compress(RSS) + compressor.flush()
    server.set("/feed.xml", body, headers={"Content-Encoding": "deflate"})
    assert fetched(fetcher.fetch(server.url("/feed.xml"))).body == RSS


def test_gzip_bomb_bounded(server: FeedServer, fetcher: Fetcher) -> None:
    server.set("/bomb", b"\0" * (64 * MB), gzip=True)  # ~64 KB on the wire
    with pytest.raises(FetchError, match="larger than 1 MB limit"):
        fetcher.fetch(server.url("/bomb"), max_bytes=MB)


def test_corrupt_gzip_is_an_error(server: FeedServer, fetcher: Fetcher) -> None:
    server.set("/feed.xml", b"not gzip at all", headers={"Content-Encoding": "gzip"})
    with pytest.raises(FetchError, match="could not decode gzip"):
        fetcher.fetch(server.url("/feed.xml"))


def test_unrequested_encoding_is_an_error(server: FeedServer, fetcher: Fetcher) -> None:
    server.set("/feed.xml", b"\x1b\x00", headers={"Content-Encoding": "br"})
    with pytest.raises(FetchError, match="unsupported content-encoding"):
        fetcher.fetch(server.url("/feed.xml"))


# -- HTTP and network failures ----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "text"), [(500, "HTTP 500 Internal Server Error"), (404, "HTTP 404 Not Found")]
)
def test_error_status(server: FeedServer, fetcher: Fetcher, status: int, text: str) -> None:
    server.set("/feed.xml", b"oops", status=status)
    with pytest.raises(FetchError) as info:
        fetcher.fetch(server.url("/feed.xml"))
    assert info.value.status == status
    assert info.value.message == text
    assert info.value.url == server.url("/feed.xml")


def test_error_status_after_redirect_names_where(server: FeedServer, fetcher: Fetcher) -> None:
    server.redirect("/old", "/gone")
    server.set("/gone", b"", status=410)
    with pytest.raises(FetchError) as info:
        fetcher.fetch(server.url("/old"))
    assert info.value.url == server.url("/old")
    assert info.value.message == f"HTTP 410 Gone at {server.url('/gone')}"


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_in_message(server: FeedServer, fetcher: Fetcher, status: int) -> None:
    server.set("/feed.xml", b"", status=status, headers={"Retry-After": "120"})
    with pytest.raises(FetchError, match=r"\(Retry-After: 120\)") as info:
        fetcher.fetch(server.url("/feed.xml"))
    assert info.value.status == status


def test_204_is_not_success(server: FeedServer, fetcher: Fetcher) -> None:
    server.set("/feed.xml", b"", status=204, etag=False)
    with pytest.raises(FetchError, match="unexpected HTTP 204 No Content") as info:
        fetcher.fetch(server.url("/feed.xml"))
    assert info.value.status == 204


def test_203_is_success(server: FeedServer, fetcher: Fetcher) -> None:
    server.set("/feed.xml", RSS, status=203)
    assert fetched(fetcher.fetch(server.url("/feed.xml"))).body == RSS


def test_connection_closed_without_answer(server: FeedServer, fetcher: Fetcher) -> None:
    server.set("/feed.xml", drop=True)
    with pytest.raises(FetchError, match="closed the connection without answering"):
        fetcher.fetch(server.url("/feed.xml"))


def test_body_shorter_than_announced(server: FeedServer, fetcher: Fetcher) -> None:
    server.set("/feed.xml", RSS, headers={"Content-Length": str(len(RSS) + 100)}, close=True)
    with pytest.raises(FetchError, match="before the end of the body"):
        fetcher.fetch(server.url("/feed.xml"), timeout=2)


def test_connection_refused(fetcher: Fetcher) -> None:
    with pytest.raises(FetchError, match="connection refused") as info:
        fetcher.fetch(f"http://127.0.0.1:{closed_port()}/feed.xml")
    assert info.value.status is None


def test_tls_failure_is_a_short_message(server: FeedServer, fetcher: Fetcher) -> None:
    server.set("/feed.xml", RSS)
    with pytest.raises(FetchError, match="TLS error: ") as info:
        fetcher.fetch(server.url("/feed.xml").replace("http:", "https:"), timeout=2)
    assert info.value.status is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://127.0.0.1/feed.xml", "unsupported URL scheme 'ftp'"),
        ("gopher://x/", "unsupported URL scheme 'gopher'"),
        ("feed.xml", "not an absolute URL"),
        ("http://127.0.0.1:99999/feed", "invalid URL"),
        ("http://[::1/feed", "invalid URL"),
        ("http:///feed", "invalid URL: no host"),
    ],
)
def test_bad_urls(fetcher: Fetcher, url: str, message: str) -> None:
    with pytest.raises(FetchError, match=message.replace("(", r"\(")):
        fetcher.fetch(url)


# -- credentials ------------------------------------------------------------------------


def test_redact_url() -> None:
    assert redact_url("https://u:s3cret@ville.example/f?x=1") == "https://ville.example/f?x=1"
    assert redact_url("https://u:p@ss@h/f") == "https://h/f"
    assert redact_url("//u:p@h/f") == "//h/f"
    assert redact_url("https://ville.example/a@b") == "https://ville.example/a@b"
    assert redact_url("not a url [") == "not a url ["


def test_userinfo_never_in_messages_or_results(server: FeedServer, fetcher: Fetcher) -> None:
    secret = "s3cretPassw0rd"
    server.set("/feed.xml", RSS)
    server.redirect("/moved", "/feed.xml")
    server.set("/missing", b"", status=404)
    base = f"http://editor:{secret}@127.0.0.1:{server.port}"
    result = fetched(fetcher.fetch(base + "/moved"))
    assert secret not in repr(result)
    auth = server.requests_to("/feed.xml")[0].headers["authorization"]
    assert auth.startswith("Basic ")  # same-origin redirect kept the credentials
    urls = [
        base + "/missing",
        f"http://editor:{secret}@127.0.0.1:{closed_port()}/feed.xml",
        f"http://editor:{secret}@127.0.0.1:99999/feed.xml",
        f"ftp://editor:{secret}@127.0.0.1/feed.xml",
    ]
    for url in urls:
        with pytest.raises(FetchError) as info:
            fetcher.fetch(url)
        assert secret not in str(info.value)
        assert "editor" not in str(info.value)
        assert secret not in info.value.url


# -- file: URLs -------------------------------------------------------------------------


def test_file_url_read(tmp_path: Path, fetcher: Fetcher) -> None:
    path = tmp_path / "demo feed.xml"
    path.write_bytes(RSS)
    result = fetched(fetcher.fetch(path.as_uri()))
    assert result.body == RSS
    assert result.headers == {"content-location": path.as_uri(), "content-type": "application/xml"}
    assert result.body_hash == hashlib.sha256(RSS).hexdigest()
    assert result.etag is None


def test_file_url_capped(tmp_path: Path, fetcher: Fetcher) -> None:
    path = tmp_path / "big.rss"
    path.write_bytes(b"x" * (MB + 1))
    with pytest.raises(FetchError, match="larger than 1 MB limit"):
        fetcher.fetch(path.as_uri(), max_bytes=MB)


def test_file_url_missing_or_not_a_file(tmp_path: Path, fetcher: Fetcher) -> None:
    with pytest.raises(FetchError, match="file not found"):
        fetcher.fetch((tmp_path / "nope.xml").as_uri())
    with pytest.raises(FetchError, match="not a regular file"):
        fetcher.fetch(tmp_path.as_uri())
    with pytest.raises(FetchError, match="local path"):
        fetcher.fetch("file://elsewhere.example/etc/feed.xml")


# -- concurrency ------------------------------------------------------------------------


def test_per_host_limit_and_other_hosts_not_blocked(server: FeedServer) -> None:
    server.set("/slow", RSS, delay=0.3)
    with FeedServer() as other, Fetcher(per_host=2) as fetcher:
        other.set("/feed.xml", RSS)
        with ThreadPoolExecutor(max_workers=8) as pool:
            slow = [pool.submit(fetcher.fetch, server.url("/slow")) for _ in range(6)]
            time.sleep(0.05)  # the slow host is now saturated
            started = time.monotonic()
            fast = pool.submit(fetcher.fetch, other.url("/feed.xml")).result(timeout=5)
            fast_took = time.monotonic() - started
            results = [f.result(timeout=10) for f in slow]
    assert all(isinstance(r, Fetched) for r in [fast, *results])
    assert server.max_in_flight("/slow") == 2
    assert len(server.requests_to("/slow")) == 6
    assert fast_took < 0.25


def test_connections_are_kept_alive_across_304s(server: FeedServer, fetcher: Fetcher) -> None:
    server.set("/feed.xml", RSS)
    etag = fetched(fetcher.fetch(server.url("/feed.xml"))).etag
    for _ in range(5):
        assert isinstance(fetcher.fetch(server.url("/feed.xml"), etag=etag), NotModified)
    assert server.connections_accepted == 1


def test_hosts_beyond_max_hosts_are_dropped_least_recently_used(server: FeedServer) -> None:
    with FeedServer() as second, FeedServer() as third, Fetcher(max_hosts=2) as fetcher:
        hosts = [server, second, third]
        for host in hosts:
            host.set("/feed.xml", RSS)
            fetcher.fetch(host.url("/feed.xml"))
        # The first host was dropped to make room for the third; the other two kept theirs.
        fetcher.fetch(third.url("/feed.xml"))
        fetcher.fetch(second.url("/feed.xml"))
        fetcher.fetch(server.url("/feed.xml"))
        assert [h.connections_accepted for h in hosts] == [2, 1, 1]


def test_shared_fetcher_is_thread_safe(server: FeedServer) -> None:
    for i in range(20):
        server.set(f"/f{i}", RSS + str(i).encode())
    with Fetcher(per_host=4) as fetcher, ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: fetcher.fetch(server.url(f"/f{i}")), range(20)))
    assert [fetched(r).body for r in results] == [RSS + str(i).encode() for i in range(20)]
    assert server.max_in_flight("/f0") <= 1


def test_server_stops_fast_while_handlers_sleep() -> None:
    server = FeedServer().start()
    server.set("/slow", RSS, delay=20)
    fetcher = Fetcher()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fetcher.fetch(server.url("/slow"), timeout=10)
        except FetchError as e:
            errors.append(e)

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.1)
    started = time.monotonic()
    server.stop()
    thread.join(timeout=5)
    fetcher.close()
    assert time.monotonic() - started < 2
    assert not thread.is_alive()
    assert errors


# -- where a request may go ------------------------------------------------------------

LOOPBACK = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]


@pytest.fixture
def other() -> Iterator[FeedServer]:
    """A second server on 127.0.0.1: another origin, as an intranet host would be."""
    with FeedServer() as s:
        yield s


def test_a_redirect_to_another_loopback_origin_is_refused(
    server: FeedServer, other: FeedServer, fetcher: Fetcher
) -> None:
    other.set("/admin", RSS)
    server.redirect("/feed.xml", other.url("/admin").replace("://", "://u:hunter22@"))
    with pytest.raises(FetchError) as caught:
        fetcher.fetch(server.url("/feed.xml"))
    message = caught.value.message
    assert f"refused {other.url('/admin')}" in message
    assert "loopback" in message
    assert "http.allow_networks" in message
    assert "hunter22" not in str(caught.value)
    assert other.requests == []


def test_a_redirect_to_another_origin_inside_allow_networks_is_followed(
    server: FeedServer, other: FeedServer
) -> None:
    other.set("/feed.xml", RSS)
    server.redirect("/feed.xml", other.url("/feed.xml"))
    with Fetcher(allow_networks=LOOPBACK) as fetcher:
        assert fetched(fetcher.fetch(server.url("/feed.xml"))).body == RSS


def test_a_redirect_that_keeps_the_configured_origin_is_followed(
    server: FeedServer, fetcher: Fetcher
) -> None:
    server.set("/new/feed.xml", RSS)
    server.redirect("/feed.xml", server.url("/new/feed.xml"))
    result = fetched(fetcher.fetch(server.url("/feed.xml")))
    assert result.url == server.url("/new/feed.xml")


def test_a_redirect_away_and_back_to_the_configured_origin_is_refused_on_the_way(
    server: FeedServer, other: FeedServer, fetcher: Fetcher
) -> None:
    server.set("/feed.xml", RSS)
    other.redirect("/hop", server.url("/feed.xml"))
    server.redirect("/start", other.url("/hop"))
    with pytest.raises(FetchError, match="refused"):
        fetcher.fetch(server.url("/start"))
    assert other.requests == []


def test_a_url_from_content_on_a_loopback_address_is_not_fetched(
    server: FeedServer, fetcher: Fetcher
) -> None:
    server.set("/feed.xml", RSS)
    server.set("/image.jpg", b"\xff\xd8\xff", content_type="image/jpeg")
    # A connection opened for the configured feed is not reused for content.
    fetched(fetcher.fetch(server.url("/feed.xml")))
    with pytest.raises(FetchError, match=r"refused .*: 127\.0\.0\.1 is a loopback address"):
        fetcher.fetch(server.url("/image.jpg"), trust="content")
    assert server.requests_to("/image.jpg") == []
    with Fetcher(allow_networks=LOOPBACK) as allowing:
        body = fetched(allowing.fetch(server.url("/image.jpg"), trust="content")).body
        assert body == b"\xff\xd8\xff"


def test_a_name_that_resolves_to_loopback_is_refused_for_content(
    server: FeedServer, fetcher: Fetcher
) -> None:
    server.set("/image.jpg", b"\xff\xd8\xff", content_type="image/jpeg")
    url = f"http://localhost:{server.port}/image.jpg"
    with pytest.raises(FetchError, match=r"localhost resolves to .*a loopback address"):
        fetcher.fetch(url, trust="content")
    assert server.requests == []
    with Fetcher(allow_networks=LOOPBACK) as allowing:
        assert fetched(allowing.fetch(url, trust="content")).body == b"\xff\xd8\xff"


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("169.254.169.254", "link-local"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("172.16.0.1", "private"),
        ("100.64.0.1", "shared"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("[::1]", "loopback"),
        ("[fc00::1]", "private"),
        ("[fe80::1]", "link-local"),
        ("[::ffff:127.0.0.1]", "loopback"),
        ("[::]", "unspecified"),
    ],
)
def test_every_non_public_address_is_refused_for_content_without_connecting(
    fetcher: Fetcher, host: str, kind: str
) -> None:
    with pytest.raises(FetchError, match=f"a(n)? {kind} address") as caught:
        fetcher.fetch(f"http://{host}:9/x.jpg", trust="content", timeout=2)
    assert caught.value.message.startswith(f"refused http://{host}:9/x.jpg")


def test_a_file_url_from_content_is_refused(tmp_path: Path, fetcher: Fetcher) -> None:
    path = tmp_path / "secret.xml"
    path.write_bytes(RSS)
    with pytest.raises(FetchError, match="unsupported URL scheme 'file'"):
        fetcher.fetch(path.as_uri(), trust="content")
    assert fetched(fetcher.fetch(path.as_uri())).body == RSS
