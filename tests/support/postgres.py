"""Where the tests' PostgreSQL comes from, and a fresh database on it per test.

``CONVEYOR_TEST_POSTGRES_URL`` (a SQLAlchemy URL of a server where the tests may create
databases) if set; otherwise a server of pgserver's bundled binaries, one per session.
Under ``CI=true`` a test that cannot get one fails; elsewhere it is skipped.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from support.ci import unavailable
from support.stack import unique

DRIVER = "postgresql+psycopg"
# A zone far from UTC, on the half hour: a timestamp read back in the session's zone
# instead of UTC shows up in every test.
SESSION_TIME_ZONE = "Asia/Kolkata"


@contextmanager
def postgres_server() -> Iterator[str]:
    """The SQLAlchemy URL of a PostgreSQL server's maintenance database."""
    configured = os.environ.get("CONVEYOR_TEST_POSTGRES_URL")
    if configured:
        yield configured
        return
    # Not pytest's temporary directory: run as root, pgserver runs PostgreSQL as its own
    # user and opens every parent of the data directory to it, and pytest's are private.
    with tempfile.TemporaryDirectory(prefix="conveyor-pg-") as root:
        try:
            with warnings.catch_warnings():
                # pgserver asks platformdirs for a runtime directory on import; without
                # XDG_RUNTIME_DIR (CI containers, root shells) it warns and uses /tmp.
                warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
                from pgserver.postgres_server import get_server  # noqa: PLC0415 - see pyproject.toml

            # Unix socket only, in the data directory: no port to collide on.
            server = get_server(Path(root) / "data")
        except (ImportError, OSError, subprocess.SubprocessError, RuntimeError) as exc:
            unavailable(f"cannot start PostgreSQL from pgserver: {exc!r}")
        try:
            url = make_url(server.get_uri()).set(drivername=DRIVER)
            yield url.render_as_string(hide_password=False)
        finally:
            server.cleanup()


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, empty database on ``server_url``'s server, dropped afterwards; its URL."""
    name = unique("conveyor_test").replace("-", "_")
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            conn.exec_driver_sql(f"ALTER DATABASE \"{name}\" SET timezone TO '{SESSION_TIME_ZONE}'")
        try:
            yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                # FORCE: a connection some pool still holds must not keep the database.
                conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        admin.dispose()
