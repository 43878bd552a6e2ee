"""The web console: the communication officer's pages, served by ``autoposter web``.

``create_app(config)`` builds the Flask application: ``security`` decides who
is asking and whether they may (sessions, CSRF, roles, throttling, headers),
``pages`` holds one small handler per page or action (read the request, call
one ``autoposter.app`` operation, render one template), ``templates/`` and
``static/`` are ours (no CDN, no inline script). This process holds no network
token and builds no publisher client: it writes decisions to the database and
the daemon carries them out.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from autoposter import i18n
from autoposter.config import Config
from autoposter.web import pages, security

__all__ = ["create_app"]

HERE = Path(__file__).resolve().parent


def create_app(config: Config) -> Flask:
    web = Flask(
        "autoposter.web",
        root_path=str(HERE),
        template_folder="templates",
        static_folder="static",
    )
    web.config.update(
        AUTOPOSTER=config,
        # A form bigger than this is no form of ours.
        MAX_CONTENT_LENGTH=256 * 1024,
        MAX_FORM_MEMORY_SIZE=256 * 1024,
        SEND_FILE_MAX_AGE_DEFAULT=3600,
        THROTTLE=security.Throttle(),
    )
    web.jinja_env.add_extension("jinja2.ext.i18n")
    web.jinja_env.install_gettext_translations(  # type: ignore[attr-defined]
        i18n.translations(config.web.language), newstyle=True
    )
    web.jinja_env.globals["lang"] = config.web.language
    web.before_request(security.load_visitor)
    web.before_request(security.check_csrf)
    web.after_request(security.add_headers)
    pages.register(web)
    return web
