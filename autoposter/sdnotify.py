"""The systemd notification protocol, spoken directly: no dependency needed.

With ``Type=notify`` systemd waits for ``READY=1`` before it calls the
service started, and with ``WatchdogSec=`` it restarts the service when
``WATCHDOG=1`` stops arriving. Both are datagrams sent to the unix socket named
by ``$NOTIFY_SOCKET`` (a leading ``@`` means the abstract namespace). Outside
systemd the variable is unset and every call here does nothing.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

__all__ = ["notify", "watchdog_interval"]


def notify(*states: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send ``states`` ("READY=1", "WATCHDOG=1", "STATUS=...") to systemd.

    True if a message was sent; False outside systemd or when the socket is gone
    (a notification is never worth crashing the daemon for).
    """
    env = os.environ if environ is None else environ
    address = env.get("NOTIFY_SOCKET", "")
    if not address or not states:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall("\n".join(states).encode("utf-8"))
    except OSError:
        return False
    return True


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """Seconds within which systemd expects ``WATCHDOG=1``, or None without a watchdog.

    Honours ``$WATCHDOG_PID``: the watchdog is this process's only if it names it.
    """
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and (not pid.isdigit() or int(pid) != os.getpid()):
        return None
    return int(usec) / 1_000_000
