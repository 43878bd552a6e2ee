"""Serving the console with waitress: a small pure-Python WSGI server, a few threads."""

from __future__ import annotations

from autoposter import logs
from autoposter.config import Config

__all__ = ["serve"]

# glibc's mallopt parameter numbers.
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def _return_large_blocks() -> None:
    """Each login hashes with Argon2id (19 MiB for a moment). glibc would keep such a
    block in the arena of the server thread that made it, one per thread, for good; a
    fixed mmap threshold gives every block over 1 MiB back to the system when freed,
    and one arena shared by the few threads keeps their small blocks together."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt(_M_MMAP_THRESHOLD, 1024 * 1024)
        libc.mallopt(_M_ARENA_MAX, 1)
    except (OSError, AttributeError):
        return  # not glibc: its allocator decides


def serve(config: Config, *, listen: tuple[str, int] | None = None, threads: int = 4) -> None:
    """Serve until interrupted (SIGINT, SIGTERM). ``listen`` overrides ``web.listen``."""
    import waitress

    from autoposter.web import create_app

    _return_large_blocks()

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
