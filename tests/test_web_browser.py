"""The web console in a real Chromium (Debian's, driven by Playwright): logging in,
throttling, roles, approving, editing, rejecting, CSRF, escaping, expiry, the keyboard,
and axe-core on every page visited.

Skipped when /usr/bin/chromium or axe-core (scripts/axe-setup.sh) is missing, unless
AUTOPOSTER_REQUIRE_BROWSER=1 (CI) makes that a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.mastodon import TOKEN, FakeMastodon
from tests.webconsole import PASSWORD, ROOT, Article, Site, make_site, process, wait_for

CHROMIUM = os.environ.get("AUTOPOSTER_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "docs" / "screenshots"


def _missing(what: str) -> None:
    if os.environ.get("AUTOPOSTER_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{what} (AUTOPOSTER_REQUIRE_BROWSER=1)")
    pytest.skip(what)


@pytest.fixture(scope="module")
def axe_script() -> str:
    if shutil.which("npm") is None:
        _missing("npm is not installed: axe-core cannot be fetched")
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "axe-setup.sh")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        _missing(f"axe-core could not be installed: {done.stderr[-500:]}")
    return Path(done.stdout.strip()).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        _missing(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        found = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield found
        found.close()


class Console:
    """One browser context on the console; ``check`` runs axe-core on the page."""

    def __init__(self, browser: Any, site: Site, axe: str, *, width: int = 1280) -> None:
        # axe is injected as a script: the context lets it past the console's CSP
        # (the CSP itself is checked on the raw responses in test_web.py).
        self.context = browser.new_context(
            viewport={"width": width, "height": 900}, bypass_csp=True
        )
        self.context.set_default_timeout(10_000)
        self.page = self.context.new_page()
        self.site = site
        self.axe = axe

    def go(self, path: str) -> Any:
        return self.page.goto(self.site.url + path)

    def log_in(self, name: str, password: str = PASSWORD) -> Any:
        self.go("/login")
        self.page.fill("#name", name)
        self.page.fill("#password", password)
        with self.page.expect_navigation():
            self.page.click("button[type=submit]")
        return self.page

    def check(self) -> None:
        """axe-core on the page as it is: no serious or critical violation."""
        self.page.add_script_tag(content=self.axe)
        result = self.page.evaluate(
            "async () => await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', "
            "'wcag21aa', 'best-practice']})"
        )
        bad = [
            (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert bad == [], f"{self.page.url}: {bad}"

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return make_site(tmp_path)


@pytest.fixture
def console(browser: Any, site: Site, axe_script: str) -> Iterator[Console]:
    with process(site, "web"):
        found = Console(browser, site, axe_script)
        yield found
        found.close()


def test_an_editor_logs_in_approves_one_network_and_logs_out(console: Console, site: Site) -> None:
    site.publish([Article("piscine", "La piscine rouvre lundi")])
    console.go("/")
    assert "/login" in console.page.url
    console.check()
    page = console.log_in("marie")
    assert page.locator("h1").inner_text() == "Dashboard"
    assert "1 post waits for your approval." in page.inner_text("main")
    console.check()
    console.go("/approve")
    assert page.locator("article h2").inner_text().strip() == "La piscine rouvre lundi"
    assert "https://www.ville.example/actu/piscine" in page.locator("pre.text").inner_text()
    console.check()
    with page.expect_navigation():
        page.click("text=Approve the checked networks")
    assert "1 post approved" in page.inner_text("[role=status]")
    assert site.states() == ["pending"]
    console.check()
    with page.expect_navigation():
        page.click("text=Log out")
    assert "You are logged out." in page.inner_text("main")
    console.go("/approve")
    assert "/login" in page.url


def test_wrong_passwords_are_throttled(console: Console) -> None:
    for _ in range(5):
        page = console.log_in("marie", "not-the-password")
        assert "Wrong name or password." in page.inner_text("main")
    page = console.log_in("marie")  # the right one, too late
    assert "Too many failed attempts" in page.inner_text("main")
    assert page.locator("h1").inner_text() == "Log in"
    console.check()


def test_a_viewer_sees_no_button_and_cannot_approve(console: Console, site: Site) -> None:
    site.publish([Article("piscine", "La piscine rouvre lundi")])
    page = console.log_in("victor")
    console.go("/approve")
    assert page.locator("article").count() == 1
    assert page.locator("button", has_text="Approve").count() == 0
    console.check()
    csrf = page.locator("form.logout input[name=csrf_token]").input_value()
    answer = page.request.post(
        site.url + "/approve/2", form={"csrf_token": csrf, "action": "approve"}
    )
    assert answer.status == 403
    assert site.states() == ["held"]


def test_a_post_without_its_csrf_token_is_refused(console: Console, site: Site) -> None:
    site.publish([Article("piscine", "La piscine rouvre lundi")])
    page = console.log_in("marie")
    answer = page.request.post(site.url + "/approve/2", form={"action": "approve"})
    assert answer.status == 403
    answer = page.request.post(
        site.url + "/approve/2", form={"action": "approve", "csrf_token": "forged"}
    )
    assert answer.status == 403
    assert "did not come from this console" in answer.text()
    assert site.states() == ["held"]


def test_markup_in_a_title_is_shown_as_text(console: Console, site: Site) -> None:
    from autoposter import app

    # The parser cleans feed titles; a message written by hand keeps its characters.
    title = "<script>alert('x')</script><b>Gras</b> & co"
    request = app.PostRequest(feed="actu", title=title, link="https://www.ville.example/x")
    app.queue_post(site.config, request, actor="test")
    site.publish([Article("piege", "<b>Gras</b>", summary="<img src=x onerror=alert(1)>")])
    dialogs: list[str] = []
    console.page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page = console.log_in("marie")
    waiting = page.locator("#h-sent + ul li")
    assert title in waiting.inner_text()
    assert waiting.locator("b, script").count() == 0
    console.go("/approve")
    assert page.locator("article h2 b, main img[src=x]").count() == 0
    assert dialogs == []
    console.check()


def test_reject_and_bulk_approve_a_burst(console: Console, site: Site) -> None:
    site.publish([Article(f"a{i}", f"Article {i}") for i in range(4)])
    page = console.log_in("marie")
    console.go("/approve")
    assert page.locator("article").count() == 4
    first = page.locator("article").nth(0)
    with page.expect_navigation():
        first.locator("button", has_text="Reject the checked networks").click()
    assert "1 post rejected." in page.inner_text("[role=status]")
    for box in page.locator("input[name=item]").all():
        box.check()
    with page.expect_navigation():
        page.click("text=Approve the checked items")
    assert "3 posts approved" in page.inner_text("[role=status]")
    assert site.states() == ["pending", "pending", "pending", "skipped"]
    console.check()


def test_a_whole_burst_is_approved_with_one_button(console: Console, site: Site) -> None:
    site.publish([Article(f"b{i}", f"Article {i}") for i in range(5)])
    page = console.log_in("marie")
    console.go("/approve")
    assert "5 items are held for feed actu" in page.inner_text("main")
    console.check()
    with page.expect_navigation():
        page.click("text=Approve them all")
    assert "5 posts approved" in page.inner_text("[role=status]")
    assert site.states() == ["pending"] * 5
    console.go("/approve")
    assert page.locator("text=Approve them all").count() == 0


def test_a_session_ends_when_idle_and_when_the_password_changes(
    console: Console, site: Site
) -> None:
    page = console.log_in("marie")
    with sqlite3.connect(site.folder / "autoposter.db") as db:
        db.execute("UPDATE web_sessions SET seen_at = '2000-01-01 00:00:00'")
    console.go("/")
    assert "/login" in page.url
    console.log_in("marie")
    console.go("/")
    assert page.locator("h1").inner_text() == "Dashboard"
    from autoposter import app

    app.set_password(site.config, "marie", "another-fake-password", actor="test")
    console.go("/")
    assert "/login" in page.url


def test_keyboard_only_approval(console: Console, site: Site) -> None:
    site.publish([Article("piscine", "La piscine rouvre lundi")])
    page = console.log_in("marie")
    console.go("/approve")
    for _ in range(80):  # Tab through the page until the approve button has the focus
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.textContent.trim()")
        if focused == "Approve the checked networks":
            break
    else:
        pytest.fail("the approve button cannot be reached with Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"  # the focus is visible
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert site.states() == ["pending"]


def test_screenshots_desktop_and_phone(browser: Any, site: Site, axe_script: str) -> None:
    site.publish(
        [
            Article("piscine", "La piscine municipale rouvre lundi après travaux"),
            Article("marche", "Marché de Noël : 40 exposants les 12 et 13 décembre"),
        ]
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with process(site, "web"):
        for width, name in ((1280, "console-desktop.png"), (390, "console-phone.png")):
            shot = Console(browser, site, axe_script, width=width)
            shot.log_in("marie")
            shot.go("/approve")
            shot.check()
            scroll = shot.page.evaluate("document.documentElement.scrollWidth")
            assert scroll <= width  # nothing wider than the screen
            shot.page.screenshot(path=str(SCREENSHOTS / name), full_page=width != 1280)
            shot.close()


@pytest.fixture
def mastodon() -> Iterator[FakeMastodon]:
    server = FakeMastodon()
    server.start()
    yield server
    server.stop()


def _mastodon_site(tmp_path: Path, mastodon: FakeMastodon) -> Site:
    account = {"type": "mastodon", "api_url": mastodon.url, "access_token": TOKEN}
    return make_site(tmp_path, accounts={"ville_masto": {**account, "images": "never"}})


def test_the_running_daemon_posts_what_was_approved_and_the_edited_text(
    browser: Any, tmp_path: Path, axe_script: str, mastodon: FakeMastodon
) -> None:
    site = _mastodon_site(tmp_path, mastodon)
    site.publish([Article("piscine", "La piscine rouvre lundi"), Article("bal", "Bal du 14")])
    with process(site, "web"), process(site, "run"):
        console = Console(browser, site, axe_script)
        page = console.log_in("marie")
        console.go("/approve")
        first = page.locator("article").nth(0)
        first.locator("summary").click()
        area = first.locator("textarea")
        area.fill("Réouverture de la piscine lundi ! https://www.ville.example/actu/piscine")
        with page.expect_navigation():
            first.locator("button", has_text="Save the text").click()
        assert "Text saved." in page.inner_text("[role=status]")
        console.check()
        for _ in range(2):
            with page.expect_navigation():
                page.locator("article").nth(0).locator(
                    "button", has_text="Approve the checked networks"
                ).click()
        assert wait_for(lambda: len(mastodon.statuses) == 2, 30), mastodon.statuses
        texts = sorted(s.text for s in mastodon.statuses)
        assert (
            texts[1] == "Réouverture de la piscine lundi ! https://www.ville.example/actu/piscine"
        )
        assert "Bal du 14" in texts[0]
        console.go("/")
        assert page.locator("a", has_text="see the post").count() == 2
        console.check()
        console.close()


# --- publish now, history, retract, accounts, users, watch ----------------------------------


def _sent(site: Site, articles: list[Article]) -> None:
    """The articles polled, approved and posted by one cycle."""
    from autoposter import app

    site.publish(articles)
    app.approve(site.config, app.Selection(held_only=True), actor="test")
    app.run_cycle(site.config, parse_workers=0)


def test_publish_now_is_previewed_then_posted_by_the_running_daemon(
    browser: Any, tmp_path: Path, axe_script: str, mastodon: FakeMastodon
) -> None:
    site = _mastodon_site(tmp_path, mastodon)
    with process(site, "web"), process(site, "run"):
        console = Console(browser, site, axe_script)
        page = console.log_in("marie")
        with page.expect_navigation():
            page.click("nav >> text=Publish now")
        console.check()
        page.fill("#title", "Coupure d'eau rue des Lilas ce soir")
        page.fill("#link", "https://www.ville.example/actu/coupure")
        page.check("#urgent")
        with page.expect_navigation():
            page.click("button[value=preview]")
        preview = page.locator("#h-preview + section pre.text").inner_text()
        assert "Coupure d'eau rue des Lilas ce soir" in preview
        assert "https://www.ville.example/actu/coupure" in preview
        assert page.input_value("#title") == "Coupure d'eau rue des Lilas ce soir"
        console.check()
        with page.expect_navigation():
            page.click("text=Publish on these networks")
        assert "Queued" in page.inner_text("[role=status]")
        assert wait_for(lambda: len(mastodon.statuses) == 1, 30), mastodon.statuses
        assert "https://www.ville.example/actu/coupure" in mastodon.statuses[0].text
        console.close()


def test_publish_now_refuses_a_link_that_is_not_a_web_address(console: Console, site: Site) -> None:
    page = console.log_in("marie")
    console.go("/post")
    page.fill("#title", "Titre")
    page.evaluate("document.querySelector('#link').type = 'text'")  # past the browser's check
    page.fill("#link", "javascript:alert(1)")
    with page.expect_navigation():
        page.click("button[value=preview]")
    page.evaluate("document.querySelector('#link').type = 'text'")
    with page.expect_navigation():
        page.click("text=Publish on these networks")
    assert "http(s) address" in page.inner_text("[role=alert]")
    assert page.input_value("#title") == "Titre"
    assert site.states() == []
    console.check()


def test_history_filters_and_downloads(console: Console, site: Site) -> None:
    formula = '=HYPERLINK("https://x.example") Bal du 14'
    sent = [Article("piscine", "La piscine rouvre lundi"), Article("bal", formula)]
    _sent(site, sent)
    site.publish([*sent, Article("marche", "Marché de Noël")])
    page = console.log_in("victor")
    console.go("/history")
    assert page.locator("ul.history li").count() == 3
    console.check()
    page.select_option("#f-state", "sent")
    with page.expect_navigation():
        page.click("text=Show")
    rows = page.locator("ul.history li")
    assert rows.count() == 2
    assert "La piscine rouvre lundi" in rows.all_inner_texts()[1]
    assert "Marché" not in page.inner_text("ul.history")
    assert "by test" in page.inner_text("#h-events ~ ul")
    console.check()
    with page.expect_download() as got:
        page.click(".exports a >> nth=0")
    lines = Path(got.value.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0] == "sent_at,account,feed,title,link,post_url,post_id,delivery"
    assert len(lines) == 3
    # A title a spreadsheet would run as a formula is exported as text.
    assert any(",\"'=HYPERLINK(" in line for line in lines), lines
    with page.expect_download() as got:
        page.click(".exports a >> nth=3")
    events = json.loads(Path(got.value.path()).read_text(encoding="utf-8"))
    assert {e["to"] for e in events} >= {"held", "pending", "sent"}
    page.select_option("#f-state", "held")
    with page.expect_navigation():
        page.click("text=Show")
    assert page.inner_text("ul.history").count("Marché de Noël") == 1


def test_retract_from_the_history_records_it_for_the_daemon(console: Console, site: Site) -> None:
    _sent(site, [Article("piscine", "La piscine rouvre lundi")])
    page = console.log_in("marie")
    console.go("/history")
    with page.expect_navigation():
        page.click("a.button:has-text('Retract')")
    assert "La piscine rouvre lundi" in page.locator("h1").inner_text()
    console.check()
    # The browser asks for a reason; the server does too, when the browser does not.
    page.evaluate("document.querySelector('#reason').removeAttribute('required')")
    with page.expect_navigation():
        page.click("text=Delete these posts")
    assert "Say why" in page.inner_text("[role=alert]")
    assert site.states() == ["sent"]
    page.fill("#reason", "Date erronée")
    with page.expect_navigation():
        page.click("text=Delete these posts")
    assert "Retraction recorded for 1 post" in page.inner_text("[role=status]")
    assert site.states() == ["retracting"]
    assert "to be deleted" in page.inner_text("ul.history")
    console.check()


def test_a_viewer_sees_no_pause_resume_or_retract_and_is_refused(
    console: Console, site: Site
) -> None:
    from autoposter import app

    _sent(site, [Article("piscine", "La piscine rouvre lundi")])
    app.pause_account(site.config, "console", reason="test", actor="test")
    page = console.log_in("victor")
    console.go("/accounts")
    assert "Paused:" in page.inner_text("main")
    assert page.locator("main button").count() == 0
    console.check()
    console.go("/history")
    assert page.locator("text=Retract").count() == 0
    assert page.locator("nav >> text=Publish now").count() == 0
    assert page.locator("nav >> text=Users").count() == 0
    csrf = page.locator("form.logout input[name=csrf_token]").input_value()
    for path, form in (
        ("/accounts/console/resume", {}),
        ("/accounts/console/pause", {"reason": "x"}),
        ("/items/2/retract", {"reason": "x"}),
        ("/post", {"feed": "actu", "title": "x", "link": "https://x.example/"}),
        ("/users", {"name": "eve", "password": "a-fake-password", "role": "admin"}),
    ):
        answer = page.request.post(site.url + path, form={"csrf_token": csrf, **form})
        assert answer.status == 403, path
    for path in ("/users", "/post", "/items/2/retract"):
        assert page.request.get(site.url + path).status == 403, path
    assert site.states() == ["sent"]
    assert app.accounts_overview(site.config)[0].paused


def test_an_admin_pauses_and_resumes_an_account(
    browser: Any, tmp_path: Path, axe_script: str
) -> None:
    site = make_site(tmp_path, users=(("ada", "admin"),))
    with process(site, "web"):
        console = Console(browser, site, axe_script)
        page = console.log_in("ada")
        console.go("/accounts")
        assert "Posting." in page.inner_text("main")
        console.check()
        page.fill("#reason-1", "Compte en maintenance")
        with page.expect_navigation():
            page.click("text=Pause console")
        assert "Account paused." in page.inner_text("[role=status]")
        assert "Compte en maintenance (web:ada)" in page.inner_text("main")
        console.check()
        with page.expect_navigation():
            page.click("text=Resume console")
        assert "Account resumed." in page.inner_text("[role=status]")
        assert "Posting." in page.inner_text("main")
        console.close()


def test_an_admin_adds_and_disables_a_user(browser: Any, tmp_path: Path, axe_script: str) -> None:
    from autoposter import app

    site = make_site(tmp_path, users=(("ada", "admin"), ("marie", "editor")))
    with process(site, "web"):
        console = Console(browser, site, axe_script)
        page = console.log_in("ada")
        console.go("/users")
        console.check()
        page.fill("#new-name", "paul")
        page.fill("#new-password", "a-fake-password-2")
        page.select_option("#new-role", "editor")
        with page.expect_navigation():
            page.click("text=Add the user")
        assert "User saved." in page.inner_text("[role=status]")
        page.fill("#new-name", "paul")
        page.fill("#new-password", "a-fake-password-2")
        with page.expect_navigation():
            page.click("text=Add the user")
        assert "already a user named 'paul'" in page.inner_text("[role=alert]")
        with page.expect_navigation():
            page.click("text=Disable marie")
        assert "User disabled" in page.inner_text("[role=status]")
        assert page.locator("text=Disable ada").count() == 0  # not oneself
        console.check()
        console.close()
    found = {u.name: u for u in app.list_users(site.config)}
    assert found["paul"].role == "editor"
    assert found["marie"].disabled


def test_the_watch_page_lists_what_was_found(browser: Any, tmp_path: Path, axe_script: str) -> None:
    from autoposter import app

    shutil.copytree(ROOT / "autoposter" / "demo" / "watch", tmp_path / "watch")
    site = make_site(tmp_path)
    text = site.config_path.read_text(encoding="utf-8")
    watch = (ROOT / "autoposter" / "demo" / "watch.yaml").read_text(encoding="utf-8")
    block = watch[watch.index("\nsmtp:") :]  # its smtp and watch blocks
    site.config_path.write_text(text + "\n" + block, encoding="utf-8")
    app.run_watches(site.config, alerts=False)
    with process(site, "web"):
        console = Console(browser, site, axe_script)
        page = console.log_in("victor")
        console.go("/watch")
        assert page.locator("main li").count() >= 1
        assert page.locator("main li script, main li img").count() == 0
        console.check()
        console.close()


def test_screenshots_of_every_page(browser: Any, tmp_path: Path, axe_script: str) -> None:
    from autoposter import app

    site = make_site(tmp_path, users=(("ada", "admin"),))
    _sent(site, [Article("piscine", "La piscine municipale rouvre lundi après travaux")])
    site.publish([Article("marche", "Marché de Noël : 40 exposants les 12 et 13 décembre")])
    app.pause_account(site.config, "console", reason="maintenance du compte", actor="test")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pages = {
        "post": "/post",
        "history": "/history",
        "accounts": "/accounts",
        "users": "/users",
        "watch": "/watch",
    }
    with process(site, "web"):
        for width, kind in ((1280, "desktop"), (390, "phone")):
            shot = Console(browser, site, axe_script, width=width)
            shot.log_in("ada")
            for name, path in {**pages, "retract": "/items/2/retract"}.items():
                shot.go(path)
                if name == "post":
                    shot.page.fill("#title", "Coupure d'eau rue des Lilas ce soir")
                    shot.page.fill("#link", "https://www.ville.example/actu/coupure")
                    with shot.page.expect_navigation():
                        shot.page.click("button[value=preview]")
                shot.check()
                scroll = shot.page.evaluate("document.documentElement.scrollWidth")
                assert scroll <= width, (name, scroll)
                shot.page.screenshot(
                    path=str(SCREENSHOTS / f"console-{name}-{kind}.png"), full_page=True
                )
            shot.close()
