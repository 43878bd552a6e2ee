"""The operations every interface calls: the CLI today, the web console next.

One function per operator action. Each takes the configuration (and opens
the storage itself, or uses the daemon's ``Runtime``), takes an ``actor``
("cli:alice", "web:marie") when it changes something, records its audit
event through storage, and returns a frozen dataclass the interface prints
or renders. Interfaces never import storage, the pipeline, the fetcher or
the parser: they call these functions.

The operations live by kind: ``inspect`` (check, probe, status, queue,
preview, export), ``decisions`` (approve, reject, retry, skip, pause,
resume), ``posting`` (one cycle, post now, backfill), ``database`` (upgrade,
backup), ``console`` (the web console's views and its decisions: edited
texts, urgent marks, posts queued for the daemon), ``users`` (the console's
users and sessions); all are imported from here. A new operator action is one function
in the module of its kind, returning one result type, exported here, and a
thin command (or page) over it that parses arguments and prints.
The fetcher, the parser and the daemon's runtime are imported inside the
operations that use them, so that the console's process stays small.
Expected failures are values in the results; a feed or account the
configuration does not have raises ``NotFoundError``.
"""

from __future__ import annotations

from autoposter.app._common import (
    RenderedPost,
)
from autoposter.app.console import (
    Dashboard,
    HeldItem,
    PostPreview,
    Queued,
    Waiting,
    dashboard,
    edit_text,
    mark_urgent,
    preview_post,
    queue_post,
    to_approve,
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
from autoposter.app.users import (
    ROLES,
    Login,
    UserInfo,
    add_user,
    disable_user,
    list_users,
    log_in,
    log_out,
    session_for,
    set_password,
    trusted_login,
)

__all__ = [
    "ROLES",
    "AccountChange",
    "AccountCheck",
    "BackfillProgress",
    "BackfillRequest",
    "BackfillResult",
    "BackupResult",
    "Cycle",
    "Dashboard",
    "Decided",
    "Decisions",
    "HeldItem",
    "Login",
    "PostPreview",
    "PostRequest",
    "Posted",
    "Preview",
    "PreviewEntry",
    "Probe",
    "QueueEntry",
    "QueueListing",
    "Queued",
    "RenderedPost",
    "SchemaUpgrade",
    "Selection",
    "Status",
    "UserInfo",
    "Waiting",
    "add_user",
    "approve",
    "backfill",
    "backup_database",
    "check_accounts",
    "dashboard",
    "database_label",
    "describe_account",
    "disable_user",
    "edit_text",
    "export_events",
    "export_posted",
    "list_users",
    "log_in",
    "log_out",
    "mark_urgent",
    "pause_account",
    "post_now",
    "preview",
    "preview_post",
    "probe_feed",
    "queue",
    "queue_post",
    "reject",
    "resume_account",
    "retry",
    "run_cycle",
    "session_for",
    "set_password",
    "skip",
    "status",
    "to_approve",
    "trusted_login",
    "upgrade_database",
]
