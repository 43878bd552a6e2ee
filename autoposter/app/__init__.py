"""The operations every interface calls: the CLI today, the web console next.

One function per operator action. Each takes the configuration (and opens
the storage itself, or uses the daemon's ``Runtime``), takes an ``actor``
("cli:alice", "web:marie") when it changes something, records its audit
event through storage, and returns a frozen dataclass the interface prints
or renders. Interfaces never import storage, the pipeline, the fetcher or
the parser: they call these functions.

The operations live by kind: ``inspect`` (check, probe, status, queue,
preview, export), ``decisions`` (approve, reject, retry, skip, pause,
resume), ``posting`` (one cycle, post now, backfill), ``retracting``
(retract), ``database`` (upgrade, backup); all are imported from here. A
new operator action is one function in the module of its kind, returning
one result type, exported here, and a thin command (or page) over it that
parses arguments and prints.
Expected failures are values in the results; a feed or account the
configuration does not have raises ``NotFoundError``.
"""

from __future__ import annotations

from autoposter.app._common import (
    RenderedPost,
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
    AccountCheck,
    Preview,
    PreviewEntry,
    Probe,
    QueueEntry,
    QueueListing,
    Status,
    check_accounts,
    database_label,
    describe_account,
    export_events,
    export_posted,
    preview,
    probe_feed,
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
from autoposter.app.retracting import (
    RetractedCopy,
    RetractReport,
    RetractRequest,
    retract,
)

__all__ = [
    "AccountChange",
    "AccountCheck",
    "BackfillProgress",
    "BackfillRequest",
    "BackfillResult",
    "BackupResult",
    "Cycle",
    "Decided",
    "Decisions",
    "PostRequest",
    "Posted",
    "Preview",
    "PreviewEntry",
    "Probe",
    "QueueEntry",
    "QueueListing",
    "RenderedPost",
    "RetractReport",
    "RetractRequest",
    "RetractedCopy",
    "SchemaUpgrade",
    "Selection",
    "Status",
    "approve",
    "backfill",
    "backup_database",
    "check_accounts",
    "database_label",
    "describe_account",
    "export_events",
    "export_posted",
    "pause_account",
    "post_now",
    "preview",
    "probe_feed",
    "queue",
    "reject",
    "resume_account",
    "retract",
    "retry",
    "run_cycle",
    "skip",
    "status",
    "upgrade_database",
]
