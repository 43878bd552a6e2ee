"""Shared fixtures: a real SQLite file, and a throwaway schema on the local PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

PG_URL = os.environ.get(
    "AUTOPOSTER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _postgres_problem() -> str | None:
    try:
        engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        engine.dispose()
    except Exception as e:  # any reason at all is a reason to skip
        return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return None


@pytest.fixture(scope="session")
def postgres_problem() -> str | None:
    return _postgres_problem()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh, empty database of each kind the storage layer supports."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db')}/autoposter.db"
        return
    problem = request.getfixturevalue("postgres_problem")
    if problem is not None:
        message = (
            f"PostgreSQL not reachable at {PG_URL} ({problem}); set AUTOPOSTER_TEST_POSTGRES_URL"
        )
        if os.environ.get("AUTOPOSTER_REQUIRE_POSTGRES"):
            pytest.fail(message)
        pytest.skip(message)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()
