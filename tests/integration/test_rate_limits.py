"""Rate limits hold across a service's replicas: two processes counting in one database refuse the hit that goes
over the limit, whichever process gets it (kit.ratelimit); each limit and key counts apart, and no e-mail address
is stored in the clear."""

import pytest
from fastapi import HTTPException

from kit.db import Database
from kit.http import RateLimit
from kit.ratelimit import DatabaseHits

pytestmark = pytest.mark.stack


async def test_two_replicas_share_one_count_per_key_and_limit(db: Database) -> None:
    other = Database(db.url)  # the other replica: a connection pool of its own
    try:
        mine = RateLimit("3/minute", DatabaseHits(db), name="per_email")
        theirs = RateLimit("3/minute", DatabaseHits(other), name="per_email")
        for limit in (mine, theirs, mine):  # three hits, spread over both replicas
            await limit.check("000328", "erika@example.org")
        with pytest.raises(HTTPException) as refused:
            await theirs.check("000328", "erika@example.org")
        assert refused.value.status_code == 429 and refused.value.headers is not None
        assert 1 <= int(refused.value.headers["Retry-After"]) <= 61
        await mine.check("000328", "hans@example.org")  # another key
        await RateLimit("3/minute", DatabaseHits(other), name="per_client").check("000328", "erika@example.org")
    finally:
        await other.dispose()
    stored = " ".join(str(row[0]) for row in await db.fetch("SELECT key FROM rate_limit_hits"))
    assert "example.org" not in stored


async def test_without_a_shared_count_each_process_counts_alone() -> None:
    """The memory count (unit tests, one process): what the shared count replaces for replicas."""
    mine, theirs = RateLimit("1/minute"), RateLimit("1/minute")
    await mine.check("k")
    await theirs.check("k")  # a second process would let it through again
    with pytest.raises(HTTPException):
        await mine.check("k")


async def test_two_limits_of_one_request_count_in_one_statement_the_second_only_behind_the_first(db: Database) -> None:
    """Onboarding's form: the client's limit, then the e-mail's — a client refused uses up no e-mail's allowance,
    and an e-mail refused still counts the client (as two checks in a row did)."""
    hits = DatabaseHits(db)
    per_client = RateLimit("2/minute", hits, name="per_client")
    per_email = RateLimit("1/minute", hits, name="per_email")

    async def counted() -> dict[str, int]:
        rows = await db.fetch("SELECT key, hits FROM rate_limit_hits")
        return {str(key): int(hits) for key, hits in rows}

    await per_client.check_then(("000328", "10.0.0.1"), per_email, ("000328", "erika@example.org"))
    with pytest.raises(HTTPException) as email_refused:  # the e-mail's second form within the minute
        await per_client.check_then(("000328", "10.0.0.1"), per_email, ("000328", "erika@example.org"))
    assert email_refused.value.status_code == 429
    assert sorted((await counted()).values()) == [2, 2]  # client 2, e-mail 2 (the refused one counted too)
    with pytest.raises(HTTPException) as client_refused:  # the client's third: refused before the e-mail counts
        await per_client.check_then(("000328", "10.0.0.1"), per_email, ("000328", "hans@example.org"))
    assert client_refused.value.headers is not None and 1 <= int(client_refused.value.headers["Retry-After"]) <= 61
    assert sorted((await counted()).values()) == [2, 3]  # no row for hans's address
    await per_client.check_then(("000328", "10.0.0.2"), per_email, ("000328", "hans@example.org"))
    assert sorted((await counted()).values()) == [1, 1, 2, 3]
