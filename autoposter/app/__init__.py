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
post now, backfill), ``retracting``
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
    from autoposter.app.alerting import (
        AlertsTest as AlertsTest,
        SmtpCheck as SmtpCheck,
        check_smtp as check_smtp,
        test_alerts as test_alerts,
    )
    from autoposter.app.checks import (
        AccountCheck as AccountCheck,
        Probe as Probe,
        check_accounts as check_accounts,
        check_links as check_links,
        config_warnings as config_warnings,
        database_label as database_label,
        describe_account as describe_account,
        probe_feed as probe_feed,
    )
    from autoposter.app.console import (
        Dashboard as Dashboard,
        HeldItem as HeldItem,
        PostPreview as PostPreview,
        Queued as Queued,
        dashboard as dashboard,
        edit_text as edit_text,
        mark_urgent as mark_urgent,
        preview_post as preview_post,
        queue_post as queue_post,
        to_approve as to_approve,
    )
    from autoposter.app.database import (
        BackupResult as BackupResult,
        SchemaUpgrade as SchemaUpgrade,
        backup_database as backup_database,
        upgrade_database as upgrade_database,
    )
    from autoposter.app.decisions import (
        APPLIES_TO as APPLIES_TO,
        AccountChange as AccountChange,
        Decided as Decided,
        Decision as Decision,
        Decisions as Decisions,
        Selection as Selection,
        approve as approve,
        matching as matching,
        pause_account as pause_account,
        reject as reject,
        resume_account as resume_account,
        retry as retry,
        skip as skip,
    )
    from autoposter.app.inspect import (
        Preview as Preview,
        PreviewEntry as PreviewEntry,
        QueueEntry as QueueEntry,
        QueueListing as QueueListing,
        Status as Status,
        Waiting as Waiting,
        describe_wait as describe_wait,
        export_events as export_events,
        export_posted as export_posted,
        preview as preview,
        queue as queue,
        status as status,
    )
    from autoposter.app.overview import (
        AccountRow as AccountRow,
        ExportTable as ExportTable,
        History as History,
        HistoryFilter as HistoryFilter,
        accounts_overview as accounts_overview,
        event_row as event_row,
        export_table as export_table,
        history as history,
        posted_row as posted_row,
    )
    from autoposter.app.posting import (
        BackfillProgress as BackfillProgress,
        BackfillRequest as BackfillRequest,
        BackfillResult as BackfillResult,
        Cycle as Cycle,
        Posted as Posted,
        PostOutcome as PostOutcome,
        PostRequest as PostRequest,
        backfill as backfill,
        post_now as post_now,
        run_cycle as run_cycle,
    )
    from autoposter.app.retracting import (
        RetractedCopy as RetractedCopy,
        RetractReport as RetractReport,
        RetractRequest as RetractRequest,
        retract as retract,
    )
    from autoposter.app.users import (
        ROLES as ROLES,
        Login as Login,
        UserInfo as UserInfo,
        add_user as add_user,
        disable_user as disable_user,
        list_users as list_users,
        log_in as log_in,
        log_out as log_out,
        session_for as session_for,
        set_password as set_password,
        trusted_login as trusted_login,
    )
    from autoposter.app.watching import (
        DigestOutcome as DigestOutcome,
        WatchRun as WatchRun,
        mentions as mentions,
        mentions_json as mentions_json,
        run_watches as run_watches,
        send_digests as send_digests,
    )

# Where each name lives.
_WHERE = {
    "AlertsTest": "alerting",
    "SmtpCheck": "alerting",
    "check_smtp": "alerting",
    "test_alerts": "alerting",
    "Waiting": "inspect",
    "describe_wait": "inspect",
    "PostOutcome": "posting",
    "APPLIES_TO": "decisions",
    "Decision": "decisions",
    "matching": "decisions",
    "check_links": "checks",
    "config_warnings": "checks",
    "Dashboard": "console",
    "HeldItem": "console",
    "PostPreview": "console",
    "Queued": "console",
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
