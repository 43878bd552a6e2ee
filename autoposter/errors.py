"""Every error autoposter raises on purpose.

::

    AutoposterError
    ├── ConfigError            names the key path: "accounts.ville_bsky.handle"
    ├── StorageError
    ├── FeedError(url)         recorded per feed; the cycle goes on
    │   ├── FetchError
    │   └── ParseError
    ├── PublishError(account)  retryable = False by default
    │   ├── AuthError          pauses the account
    │   ├── RejectedError      this post refused (too long, invalid): failed, not retried
    │   ├── RateLimitedError   retryable; retry_after seconds
    │   │   └── BudgetExceededError  pauses the account until retry_after
    │   └── UnavailableError   retryable; timeouts, 5xx, connection errors; maybe_posted
    ├── NotifyError            an alert or digest could not be sent
    ├── NotFoundError(kind)    an operation named a feed or account not configured
    │   └── NotRoutedError     an account that does not post the feed named
    ├── RefusedError           an operator's request that cannot be done as asked
    └── PluginError            unknown type, import failure, duplicate name

Dependencies' exceptions are translated into these once, at the boundary
where the dependency is called (``raise ... from e``). Callers branch on
``PublishError.retryable``, never on a list of classes.
"""

from __future__ import annotations


class AutoposterError(Exception):
    """The root of every error autoposter raises on purpose."""


class ConfigError(AutoposterError):
    """The configuration is wrong; ``path`` names the key at fault."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


class StorageError(AutoposterError):
    """The database could not be read or written."""


class FeedError(AutoposterError):
    """A feed could not be fetched or read; ``url`` names it."""

    def __init__(self, url: str, message: str) -> None:
        self.url = url
        self.message = message
        super().__init__(f"{url}: {message}")


class FetchError(FeedError):
    """The feed could not be downloaded (network, HTTP status, size, scheme)."""

    def __init__(self, url: str, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(url, message)


class ParseError(FeedError):
    """The downloaded body is not a feed autoposter can read, or reading it took too long."""


class PublishError(AutoposterError):
    """A post could not be made on ``account``.

    ``maybe_posted`` says the request may have reached the network before it
    failed (a timeout, a connection dropped after sending): a network that
    cannot be asked whether the post exists must then not be retried blindly.
    """

    retryable: bool = False
    maybe_posted: bool = False
    retry_after: float | None = None  # seconds the network asked to wait, when it said

    def __init__(self, account: str, message: str) -> None:
        self.account = account
        self.message = message
        super().__init__(f"{account}: {message}")


class AuthError(PublishError):
    """The credentials were refused; the account is paused until an operator fixes them."""


class RejectedError(PublishError):
    """The network refused this post itself (too long, invalid); retrying cannot help."""


class RateLimitedError(PublishError):
    """The network asked us to slow down; ``retry_after`` is in seconds when it said."""

    retryable = True

    def __init__(self, account: str, message: str, *, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(account, message)


class BudgetExceededError(RateLimitedError):
    """The account's spending cap for the period is reached (X's monthly budget): the
    account is paused until ``retry_after`` has passed."""


class UnavailableError(PublishError):
    """The network could not be reached or failed on its side (timeout, 5xx).

    ``maybe_posted`` defaults to True; say False when the request surely never
    arrived (connection refused, DNS failure).
    """

    retryable = True

    def __init__(self, account: str, message: str, *, maybe_posted: bool = True) -> None:
        self.maybe_posted = maybe_posted
        super().__init__(account, message)


class NotifyError(AutoposterError):
    """An alert or a digest could not be sent (mail server, webhook)."""


class NotFoundError(AutoposterError):
    """An operation named a feed or an account that the configuration does not have.

    ``kind`` is "feed" or "account"; ``known`` lists the configured names.
    """

    def __init__(self, kind: str, name: str, known: tuple[str, ...]) -> None:
        self.kind = kind
        self.name = name
        self.known = known
        super().__init__(f"no {kind} named {name!r} ({kind}s: {', '.join(known) or 'none'})")


class RefusedError(AutoposterError):
    """An operator's request that cannot be done as asked: a user name taken, a password
    too short, an edited text too long or without its link. The message says why, for
    the person who asked."""


class NotRoutedError(NotFoundError):
    """An operation on a feed named an account that the feed does not post to.

    ``known`` lists the feed's own accounts.
    """

    def __init__(self, feed: str, name: str, known: tuple[str, ...]) -> None:
        AutoposterError.__init__(
            self,
            f"account {name!r} does not post feed {feed!r} "
            f"(its accounts: {', '.join(known) or 'none'})",
        )
        self.kind = "account"
        self.name = name
        self.known = known
        self.feed = feed


class PluginError(AutoposterError):
    """A publisher plugin is unknown, fails to import, or is registered twice."""
