"""Serving the console with waitress: a small pure-Python WSGI server, a few threads."""

from __future__ import annotations

from autoposter import logs
from autoposter.config import Config

__all__ = ["serve"]


def serve(config: Config, *, listen: tuple[str, int] | None = None, threads: int = 4) -> None:
    """Serve until interrupted (SIGINT, SIGTERM). ``listen`` overrides ``web.listen``."""
    import waitress

    from autoposter.web import create_app

    host, port = listen or config.web.listen
    logs.event("web-listening", address=f"{host}:{port}", base_url=config.web.base_url or "")
    waitress.serve(
        create_app(config),
        host=host,
        port=port,
        threads=threads,
        ident="autoposter",
        # The peer address stays the real one: a trusted proxy's header is read by the
        # console itself, only from web.trusted_proxies.
        trusted_proxy=None,
        clear_untrusted_proxy_headers=False,
        _quiet=True,
    )
