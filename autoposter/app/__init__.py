"""The operations every interface calls: the CLI today, the web console next.

One function per operator action. Each takes the configuration (and opens
the storage itself, or uses the daemon's ``Runtime``), takes an ``actor``
("cli:alice", "web:marie") when it changes something, records its audit
event through storage, and returns a frozen dataclass the interface prints
or renders. Interfaces never import storage, the pipeline, the fetcher or
the parser: they call these functions.

The operations live by kind: ``checks`` (check, probe), ``inspect`` (status,
queue, preview, export), ``decisions`` (approve, reject, retry, skip, pause,
resume), ``posting`` (one cycle, post now, backfill), ``retracting``
(retract), ``database`` (upgrade, backup), ``watching`` (poll the watches,
mentions, digest), ``console`` (what the web console shows and the decisions it
writes), ``overview`` (the console's history, exports and accounts), ``users`` (the
console's users and sessions); all are imported from here. A new operator action
is one function in the module of its kind, returning one result type, exported here,
and a thin command (or page) over it that parses arguments and prints.
Expected failures are values in the results; a feed or account the
configuration does not have raises ``NotFoundError``.

Each name is imported from its module on first use, so that a command pays
only for what it calls: ``check`` loads no storage (SQLAlchemy) and no pipeline.
A new name goes in both lists below (a test keeps them in step).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from autoposter.app._common import (
        RenderedPost as RenderedPost,
    )
    from autoposter.app.checks import (
        AccountCheck as AccountCheck,
    )
    from autoposter.app.checks import (
        Probe as Probe,
    )
    from autoposter.app.checks import (
        check_accounts as check_accounts,
    )
    from autoposter.app.checks import (
        database_label as database_label,
    )
    from autoposter.app.checks import (
        describe_account as describe_account,
    )
    from autoposter.app.checks import (
        probe_feed as probe_feed,
    )
    from autoposter.app.console import (
        Dashboard as Dashboard,
    )
    from autoposter.app.console import (
        HeldItem as HeldItem,
    )
    from autoposter.app.console import (
        PostPreview as PostPreview,
    )
    from autoposter.app.console import (
        Queued as Queued,
    )
    from autoposter.app.console import (
        Waiting as Waiting,
    )
    from autoposter.app.console import (
        dashboard as dashboard,
    )
    from autoposter.app.console import (
        edit_text as edit_text,
    )
    from autoposter.app.console import (
        mark_urgent as mark_urgent,
    )
    from autoposter.app.console import (
        preview_post as preview_post,
    )
    from autoposter.app.console import (
        queue_post as queue_post,
    )
    from autoposter.app.console import (
        to_approve as to_approve,
    )
    from autoposter.app.database import (
        BackupResult as BackupResult,
    )
    from autoposter.app.database import (
        SchemaUpgrade as SchemaUpgrade,
    )
    from autoposter.app.database import (
        backup_database as backup_database,
    )
    from autoposter.app.database import (
        upgrade_database as upgrade_database,
    )
    from autoposter.app.decisions import (
        AccountChange as AccountChange,
    )
    from autoposter.app.decisions import (
        Decided as Decided,
    )
    from autoposter.app.decisions import (
        Decisions as Decisions,
    )
    from autoposter.app.decisions import (
        Selection as Selection,
    )
    from autoposter.app.decisions import (
        approve as approve,
    )
    from autoposter.app.decisions import (
        pause_account as pause_account,
    )
    from autoposter.app.decisions import (
        reject as reject,
    )
    from autoposter.app.decisions import (
        resume_account as resume_account,
    )
    from autoposter.app.decisions import (
        retry as retry,
    )
    from autoposter.app.decisions import (
        skip as skip,
    )
    from autoposter.app.inspect import (
        Preview as Preview,
    )
    from autoposter.app.inspect import (
        PreviewEntry as PreviewEntry,
    )
    from autoposter.app.inspect import (
        QueueEntry as QueueEntry,
    )
    from autoposter.app.inspect import (
        QueueListing as QueueListing,
    )
    from autoposter.app.inspect import (
        Status as Status,
    )
    from autoposter.app.inspect import (
        export_events as export_events,
    )
    from autoposter.app.inspect import (
        export_posted as export_posted,
    )
    from autoposter.app.inspect import (
        preview as preview,
    )
    from autoposter.app.inspect import (
        queue as queue,
    )
    from autoposter.app.inspect import (
        status as status,
    )
    from autoposter.app.overview import (
        AccountRow as AccountRow,
    )
    from autoposter.app.overview import (
        ExportTable as ExportTable,
    )
    from autoposter.app.overview import (
        History as History,
    )
    from autoposter.app.overview import (
        HistoryFilter as HistoryFilter,
    )
    from autoposter.app.overview import (
        accounts_overview as accounts_overview,
    )
    from autoposter.app.overview import (
        event_row as event_row,
    )
    from autoposter.app.overview import (
        export_table as export_table,
    )
    from autoposter.app.overview import (
        history as history,
    )
    from autoposter.app.overview import (
        posted_row as posted_row,
    )
    from autoposter.app.posting import (
        BackfillProgress as BackfillProgress,
    )
    from autoposter.app.posting import (
        BackfillRequest as BackfillRequest,
    )
    from autoposter.app.posting import (
        BackfillResult as BackfillResult,
    )
    from autoposter.app.posting import (
        Cycle as Cycle,
    )
    from autoposter.app.posting import (
        Posted as Posted,
    )
    from autoposter.app.posting import (
        PostRequest as PostRequest,
    )
    from autoposter.app.posting import (
        backfill as backfill,
    )
    from autoposter.app.posting import (
        post_now as post_now,
    )
    from autoposter.app.posting import (
        run_cycle as run_cycle,
    )
    from autoposter.app.retracting import (
        RetractedCopy as RetractedCopy,
    )
    from autoposter.app.retracting import (
        RetractReport as RetractReport,
    )
    from autoposter.app.retracting import (
        RetractRequest as RetractRequest,
    )
    from autoposter.app.retracting import (
        retract as retract,
    )
    from autoposter.app.users import (
        ROLES as ROLES,
    )
    from autoposter.app.users import (
        Login as Login,
    )
    from autoposter.app.users import (
        UserInfo as UserInfo,
    )
    from autoposter.app.users import (
        add_user as add_user,
    )
    from autoposter.app.users import (
        disable_user as disable_user,
    )
    from autoposter.app.users import (
        list_users as list_users,
    )
    from autoposter.app.users import (
        log_in as log_in,
    )
    from autoposter.app.users import (
        log_out as log_out,
    )
    from autoposter.app.users import (
        session_for as session_for,
    )
    from autoposter.app.users import (
        set_password as set_password,
    )
    from autoposter.app.users import (
        trusted_login as trusted_login,
    )
    from autoposter.app.watching import (
        DigestOutcome as DigestOutcome,
    )
    from autoposter.app.watching import (
        WatchRun as WatchRun,
    )
    from autoposter.app.watching import (
        mentions as mentions,
    )
    from autoposter.app.watching import (
        mentions_json as mentions_json,
    )
    from autoposter.app.watching import (
        run_watches as run_watches,
    )
    from autoposter.app.watching import (
        send_digests as send_digests,
    )

# Where each name lives.
_WHERE = {
    "Dashboard": "console",
    "HeldItem": "console",
    "PostPreview": "console",
    "Queued": "console",
    "Waiting": "console",
    "dashboard": "console",
    "edit_text": "console",
    "mark_urgent": "console",
    "preview_post": "console",
    "queue_post": "console",
    "to_approve": "console",
    "ROLES": "users",
    "Login": "users",
    "UserInfo": "users",
    "add_user": "users",
    "disable_user": "users",
    "list_users": "users",
    "log_in": "users",
    "log_out": "users",
    "session_for": "users",
    "set_password": "users",
    "trusted_login": "users",
    "RenderedPost": "_common",
    "AccountCheck": "checks",
    "Probe": "checks",
    "check_accounts": "checks",
    "database_label": "checks",
    "describe_account": "checks",
    "probe_feed": "checks",
    "BackupResult": "database",
    "SchemaUpgrade": "database",
    "backup_database": "database",
    "upgrade_database": "database",
    "AccountChange": "decisions",
    "Decided": "decisions",
    "Decisions": "decisions",
    "Selection": "decisions",
    "approve": "decisions",
    "pause_account": "decisions",
    "reject": "decisions",
    "resume_account": "decisions",
    "retry": "decisions",
    "skip": "decisions",
    "Preview": "inspect",
    "PreviewEntry": "inspect",
    "QueueEntry": "inspect",
    "QueueListing": "inspect",
    "Status": "inspect",
    "export_events": "inspect",
    "export_posted": "inspect",
    "preview": "inspect",
    "queue": "inspect",
    "status": "inspect",
    "AccountRow": "overview",
    "ExportTable": "overview",
    "History": "overview",
    "HistoryFilter": "overview",
    "accounts_overview": "overview",
    "export_table": "overview",
    "history": "overview",
    "event_row": "overview",
    "posted_row": "overview",
    "BackfillProgress": "posting",
    "BackfillRequest": "posting",
    "BackfillResult": "posting",
    "Cycle": "posting",
    "PostRequest": "posting",
    "Posted": "posting",
    "backfill": "posting",
    "post_now": "posting",
    "run_cycle": "posting",
    "RetractReport": "retracting",
    "RetractRequest": "retracting",
    "RetractedCopy": "retracting",
    "retract": "retracting",
    "DigestOutcome": "watching",
    "WatchRun": "watching",
    "mentions": "watching",
    "mentions_json": "watching",
    "run_watches": "watching",
    "send_digests": "watching",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
