"""A grant's end ([11 of 11] §2) on the real database, with an injected clock: when its time is up the expiry worker's
use case records GrantExpired once (not again on the next round), and the grant's refresh token is refused from
then on; a grant still running is left alone."""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from sqlmodel import col, select

from kit.db import Database
from kit.outbox import OutboxMessage
from kit.uow import UnitsOfWork
from services.identity import consent_handlers, crypto
from services.identity.consent_domain import Asked, Chosen, GrantStatus, IssuedRefreshToken, ThirdParty, approve
from services.identity.consent_oauth import REFRESH_TOKEN_PREFIX, new_secret, secret_hash
from services.identity.consent_store import ConsentStore
from tests.unit.fakes import FakeClock

pytestmark = pytest.mark.stack
TENANT = "000328"


@pytest.fixture
def units(identity_db: Database) -> tuple[UnitsOfWork[ConsentStore], FakeClock]:
    clock = FakeClock(datetime(2026, 6, 1, 9, 0, tzinfo=UTC))
    return UnitsOfWork(identity_db, ConsentStore, clock=clock), clock


async def a_grant(units: UnitsOfWork[ConsentStore], clock: FakeClock, days: int) -> tuple[str, str]:
    """A grant of ``days`` days and its refresh token (the secret)."""
    party = ThirdParty("tp_test", TENANT, "Sonnenhaus", "api@sonnenhaus.example", ("https://a.example/cb",), None,
                       clock.current)  # fmt: skip
    grant = approve(
        str(uuid4()),
        Asked("meterdata:day", date(2026, 6, 1), days),
        Chosen("4100012345", "meterdata:day", date(2026, 6, 1), days),
        party,
        str(uuid4()),
        {"4100012345": "consumption"},
        clock.current,
    )
    refresh = new_secret(REFRESH_TOKEN_PREFIX)
    async with units() as uow:
        if await uow.store.third_party(TENANT, party.client_id) is None:
            await uow.store.add_third_party(party)
        await uow.store.add_grant(grant)
        await uow.store.add_refresh_token(
            IssuedRefreshToken(secret_hash(refresh), TENANT, grant.id, party.client_id, clock.current)
        )
    return grant.id, refresh


async def test_a_grant_whose_time_is_up_is_recorded_expired_once_and_its_refresh_token_refused(
    units: tuple[UnitsOfWork[ConsentStore], FakeClock], tmp_path: Path
) -> None:
    uow_of, clock = units
    short, refresh = await a_grant(uow_of, clock, days=1)
    running, running_refresh = await a_grant(uow_of, clock, days=30)
    clock.current += timedelta(days=2)

    for expected in (1, 0):  # the next round finds nothing more
        async with uow_of() as uow:
            assert await consent_handlers.expire_grants(consent_handlers.ExpireGrants(), uow) == expected
    async with uow_of.read() as uow:
        ended, still = await uow.store.grant(TENANT, short), await uow.store.grant(TENANT, running)
    assert ended is not None and still is not None
    assert (ended.status(clock.current), ended.end_reason) == (GrantStatus.ENDED, "expired")
    assert still.status(clock.current) == GrantStatus.PENDING
    async with uow_of.transaction() as session:
        events = (await session.exec(select(OutboxMessage.event_type).order_by(col(OutboxMessage.seq)))).all()
    assert list(events) == ["GrantExpired"]  # the grants were stored here directly, their GrantGiven not sent

    signer = crypto.TokenSigner(tmp_path / "key.pem")

    async def refreshed(secret: str) -> consent_handlers.TokenAnswer:
        form = (("grant_type", "refresh_token"), ("refresh_token", secret), ("client_id", "tp_test"))
        async with uow_of() as uow:
            command = consent_handlers.ExchangeToken(TENANT, form, "")
            return await consent_handlers.exchange_token(command, uow, signer=signer)

    expired = await refreshed(refresh)
    assert (expired.status, expired.body["error"]) == (400, "invalid_grant")
    assert (await refreshed(running_refresh)).status == 200  # the same client, a grant still running
