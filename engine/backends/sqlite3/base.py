"""SQLite whose connections are kept for the next greenlet instead of being closed.

Every greenlet (a request, a turn, a stream) has its own Django connection, closed when it is
done. Opening a SQLite connection costs a millisecond or two here (Django registers some forty
SQL functions on each), which a turn used to pay twice before its first token. A closed
connection waits in a per-process stack for the next greenlet that connects, so long-lived
greenlets can give theirs back between bursts of queries (engine.db.release_connection), and
the database always has an open connection: closing a WAL database's last one checkpoints it
and syncs it to disk, which cost milliseconds. Connections
are keyed by the database file's identity, so a file that was deleted and made again (as test
databases are) is never served through a stale connection.
"""

import os
from collections import defaultdict

from django.db.backends.sqlite3 import base

IDLE_LIMIT = 64

_idle: dict[tuple[str, int, int], list] = defaultdict(list)


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        key = self._reuse_key()
        if key is not None and _idle[key]:
            return _idle[key].pop()
        return super().get_new_connection(conn_params)

    def _close(self):
        key = self._reuse_key()
        if key is None or self.connection is None or len(_idle[key]) >= IDLE_LIMIT:
            return super()._close()
        if self.connection.in_transaction:
            self.connection.rollback()
        _idle[key].append(self.connection)

    def _reuse_key(self) -> tuple[str, int, int] | None:
        if self.is_in_memory_db():
            return None
        name = str(self.settings_dict["NAME"])
        try:
            stat = os.stat(name)
        except OSError:
            return None
        return name, stat.st_dev, stat.st_ino

