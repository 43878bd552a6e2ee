"""The ``accounts:`` section: one block per social account.

An account block is the one place where unknown keys are allowed: besides
``type`` and the delivery keys, its options belong to the publisher plugin,
which checks them itself when it is built (``autoposter.publishers.build``).
"""

from __future__ import annotations

from typing import Any

from autoposter.config.delivery import POLICY_KEYS, policy
from autoposter.config.fields import freeze, join
from autoposter.config.model import AccountConfig
from autoposter.config.reader import Reader
from autoposter.errors import ConfigError
from autoposter.policy import DeliveryPolicy

__all__ = ["account"]


def account(reader: Reader, name: object, value: object, delivery: DeliveryPolicy) -> AccountConfig:
    """One block of ``accounts:``; its delivery keys apply over ``delivery``."""
    path = join("accounts", str(name))
    account_name = reader.name(name, path, "account")
    block = reader.mapping(value, path, "the account's settings, at least 'type'")
    options: dict[str, Any] = {}
    for key, item in block.items():
        target = key.removesuffix("_file")
        if key.endswith("_file") and target:
            if target in block:
                raise ConfigError(join(path, key), f"give either '{target}' or '{key}', not both")
            options[target] = reader.secret_file(item, join(path, key))
        else:
            options[key] = item
    if "type" not in options:
        raise ConfigError(
            join(path, "type"),
            "missing; say which kind of account this is, e.g. type: mastodon",
        )
    kind = reader.string(
        options.pop("type"), join(path, "type"), "an account type such as mastodon"
    )
    if kind == "webhook" and isinstance(options.get("url"), str):
        # Chat webhooks (Slack, Discord, Mattermost) carry their credential in the URL.
        reader.secret(options["url"])
    policy_block = {k: options.pop(k) for k in POLICY_KEYS if k in options}
    rules = policy(reader, policy_block, path, delivery)
    reader.collect_secrets(options, None)
    return AccountConfig(name=account_name, type=kind, options=freeze(options), policy=rules)
