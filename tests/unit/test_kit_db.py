"""kit.db: a pooled connection the server closed (pg_terminate_backend, a restarted server) is not handed out
again. Database.transaction begins on the driver's connection, outside SQLAlchemy's disconnect handling, so
the pool never learnt of such a connection: an idle meter data service failed /health after the chaos run's
connection cut until pool_recycle (benchmarks/chaos.py)."""

from typing import Any

from sqlalchemy import event
from sqlalchemy.pool import QueuePool

from kit.db import Database, discard_closed


class Connection:
    """A DBAPI connection as the pool sees it; ``closed`` as asyncpg's is_closed() after the server ended it."""

    made = 0

    def __init__(self) -> None:
        Connection.made += 1
        self.number = Connection.made
        self.closed = False

    def is_closed(self) -> bool:
        return self.closed

    def rollback(self) -> None:  # AUTOCOMMIT's reset on return: sends nothing, notices nothing
        pass

    def close(self) -> None:
        self.closed = True


def connect() -> Any:  # the pool's creator: any object with the DBAPI connection's methods
    return Connection()


def pool() -> QueuePool:
    made = QueuePool(connect, pool_size=1, max_overflow=0)
    event.listen(made, "checkout", discard_closed)
    return made


def checked_out_and_back(connections: QueuePool) -> Connection:
    proxy = connections.connect()
    dbapi = proxy.dbapi_connection
    proxy.close()
    assert isinstance(dbapi, Connection)
    return dbapi


def test_a_pooled_connection_the_server_closed_is_replaced_on_checkout() -> None:
    connections = pool()
    first = checked_out_and_back(connections)
    first.closed = True  # terminated by the server while idle in the pool
    second = checked_out_and_back(connections)
    assert second is not first and not second.closed


def test_an_open_pooled_connection_is_kept() -> None:
    connections = pool()
    first = checked_out_and_back(connections)
    assert checked_out_and_back(connections) is first


def test_the_database_engine_checks_its_connections_on_checkout() -> None:
    db = Database("postgresql+asyncpg://user:secret@localhost:1/none")  # connects to nothing until used
    assert event.contains(db.engine.sync_engine, "checkout", discard_closed)
