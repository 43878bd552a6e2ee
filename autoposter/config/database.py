"""Database URLs (``sqlite:///autoposter.db``, ``postgresql+psycopg://user:pw@host/db``),
read with the standard library alone.

Reading a configuration must not cost the 26 MB of SQLAlchemy; the grammar
here is SQLAlchemy's own ``make_url`` pattern, so a URL accepted here is one
``storage`` can open, and the parts mean the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

__all__ = ["DatabaseURL"]

_URL = re.compile(
    r"""
    (?P<driver>[\w+]+)://
    (?:
        (?P<username>[^:/]*)
        (?::(?P<password>[^@]*))?
    @)?
    (?:
        (?:
            \[(?P<ipv6host>[^/?]+)\] |
            (?P<ipv4host>[^/:?]+)
        )?
        (?::(?P<port>[^/?]*))?
    )?
    (?:/(?P<database>[^?]*))?
    (?:\?(?P<query>.*))?
    """,
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class DatabaseURL:
    """The parts of a database URL; ``username``, ``password`` and ``database`` unquoted."""

    driver: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    host: str | None = None
    port: int | None = None
    database: str | None = None
    query: str | None = None

    @classmethod
    def parse(cls, url: str) -> DatabaseURL:
        """The parts of ``url``; ValueError (whose message never quotes it) if it is not one."""
        match = _URL.match(url)
        if match is None:
            raise ValueError("not a database URL (expected driver://...)")
        parts = match.groupdict()
        port = parts["port"]
        if port and not port.isdigit():
            raise ValueError("the port of a database URL must be a number")
        return cls(
            driver=parts["driver"],
            username=_unquoted(parts["username"]),
            password=_unquoted(parts["password"]),
            host=parts["ipv4host"] or parts["ipv6host"],
            port=int(port) if port else None,
            database=_unquoted(parts["database"]),
            query=parts["query"],
        )

    @property
    def backend(self) -> str:
        """``postgresql`` for ``postgresql+psycopg``: the part before the driver."""
        return self.driver.partition("+")[0]

    @property
    def is_sqlite(self) -> bool:
        return self.backend == "sqlite"

    @property
    def safe(self) -> str:
        """The URL with its password shown as ``***``: fit for logs and messages."""
        text = f"{self.driver}://"
        if self.username is not None:
            text += quote(self.username, safe=" +")
            if self.password is not None:
                text += ":***"
            text += "@"
        if self.host is not None:
            text += f"[{self.host}]" if ":" in self.host else self.host
        if self.port is not None:
            text += f":{self.port}"
        if self.database is not None:
            text += "/" + quote(self.database, safe=" +/")
        if self.query:
            text += f"?{self.query}"
        return text


def _unquoted(value: str | None) -> str | None:
    return None if value is None else unquote(value)
