"""The operations every interface calls: the CLI today, the web console next.

One function per operator action. Each takes the configuration (and opens
the storage itself, or uses the daemon's ``Runtime``), takes an ``actor``
("cli:alice", "web:marie") when it changes something, records its audit
event through storage, and returns a frozen dataclass the interface prints
or renders. Interfaces never import storage, the pipeline, the fetcher or
the parser: they call these functions.

The operations live by kind: ``checks`` (check, probe), ``inspect`` (status,
queue, preview, export), ``decisions`` (approve, reject, retry, skip, pause,
resume), ``alerting`` (test alert, mail server check), ``posting`` (one cycle,
post now, backfill), ``database`` (upgrade, backup), ``watching`` (poll the
watches, mentions, digest); all are imported
from here. A new operator action is one function in the module of its kind,
returning one result type, exported here, and a thin command (or page) over it
that parses arguments and prints.
Expected failures are values in the results; a feed or account the
configuration does not have raises ``NotFoundError``.

Each name is imported from its module on first use, so that a command pays
only for what it calls: ``check`` loads no storage (SQLAlchemy) and no pipeline.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from autoposter.app._common import (
        RenderedPost,
    )
    from autoposter.app.alerting import (
        AlertsTest,
        SmtpCheck,
        check_smtp,
        test_alerts,
    )
    from autoposter.app.checks import (
        AccountCheck,
        Probe,
        check_accounts,
        database_label,
        describe_account,
        probe_feed,
    )
    from autoposter.app.database import (
        BackupResult,
        SchemaUpgrade,
        backup_database,
        upgrade_database,
    )
    from autoposter.app.decisions import (
        AccountChange,
        Decided,
        Decisions,
        Selection,
        approve,
        pause_account,
        reject,
        resume_account,
        retry,
        skip,
    )
    from autoposter.app.inspect import (
        Preview,
        PreviewEntry,
        QueueEntry,
        QueueListing,
        Status,
        export_events,
        export_posted,
        preview,
        queue,
        status,
    )
    from autoposter.app.posting import (
        BackfillProgress,
        BackfillRequest,
        BackfillResult,
        Cycle,
        Posted,
        PostRequest,
        backfill,
        post_now,
        run_cycle,
    )
    from autoposter.app.watching import (
        DigestOutcome,
        WatchRun,
        mentions,
        mentions_json,
        run_watches,
        send_digests,
    )

_WHERE = {
    "AlertsTest": "alerting",
    "SmtpCheck": "alerting",
    "check_smtp": "alerting",
    "test_alerts": "alerting",
    "DigestOutcome": "watching",
    "WatchRun": "watching",
    "mentions": "watching",
    "mentions_json": "watching",
    "run_watches": "watching",
    "send_digests": "watching",
    "AccountChange": "decisions",
    "AccountCheck": "checks",
    "BackfillProgress": "posting",
    "BackfillRequest": "posting",
    "BackfillResult": "posting",
    "BackupResult": "database",
    "Cycle": "posting",
    "Decided": "decisions",
    "Decisions": "decisions",
    "PostRequest": "posting",
    "Posted": "posting",
    "Preview": "inspect",
    "PreviewEntry": "inspect",
    "Probe": "checks",
    "QueueEntry": "inspect",
    "QueueListing": "inspect",
    "RenderedPost": "_common",
    "SchemaUpgrade": "database",
    "Selection": "decisions",
    "Status": "inspect",
    "approve": "decisions",
    "backfill": "posting",
    "backup_database": "database",
    "check_accounts": "checks",
    "database_label": "checks",
    "describe_account": "checks",
    "export_events": "inspect",
    "export_posted": "inspect",
    "pause_account": "decisions",
    "post_now": "posting",
    "preview": "inspect",
    "probe_feed": "checks",
    "queue": "inspect",
    "reject": "decisions",
    "resume_account": "decisions",
    "retry": "decisions",
    "run_cycle": "posting",
    "skip": "decisions",
    "status": "inspect",
    "upgrade_database": "database",
}

__all__ = [
    "AccountChange",
    "AccountCheck",
    "AlertsTest",
    "BackfillProgress",
    "BackfillRequest",
    "BackfillResult",
    "BackupResult",
    "Cycle",
    "Decided",
    "Decisions",
    "DigestOutcome",
    "PostRequest",
    "Posted",
    "Preview",
    "PreviewEntry",
    "Probe",
    "QueueEntry",
    "QueueListing",
    "RenderedPost",
    "SchemaUpgrade",
    "Selection",
    "SmtpCheck",
    "Status",
    "WatchRun",
    "approve",
    "backfill",
    "backup_database",
    "check_accounts",
    "check_smtp",
    "database_label",
    "describe_account",
    "export_events",
    "export_posted",
    "mentions",
    "mentions_json",
    "pause_account",
    "post_now",
    "preview",
    "probe_feed",
    "queue",
    "reject",
    "resume_account",
    "retry",
    "run_cycle",
    "run_watches",
    "send_digests",
    "skip",
    "status",
    "test_alerts",
    "upgrade_database",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
