"""autoposter: each new item of an institution's website, posted once to each of its accounts."""

from autoposter.errors import (
    AuthError,
    AutoposterError,
    ConfigError,
    FeedError,
    FetchError,
    ParseError,
    PluginError,
    PublishError,
    RateLimitedError,
    RejectedError,
    StorageError,
    UnavailableError,
)
from autoposter.types import AccountInfo, Image, Item, Post, PostSpec, Publisher, Receipt

__version__ = "0.1.0"

__all__ = [
    "AccountInfo",
    "AuthError",
    "AutoposterError",
    "ConfigError",
    "FeedError",
    "FetchError",
    "Image",
    "Item",
    "ParseError",
    "PluginError",
    "Post",
    "PostSpec",
    "PublishError",
    "Publisher",
    "RateLimitedError",
    "Receipt",
    "RejectedError",
    "StorageError",
    "UnavailableError",
    "__version__",
]
