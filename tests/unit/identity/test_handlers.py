"""Identity's use cases with the store, master data, outbox and clock in memory (no database)."""

import re
from datetime import timedelta
from pathlib import Path
from typing import TypeVar
from uuid import uuid4

import jwt
import pytest
from pydantic import SecretStr

from contracts.common import PartnerRole, PostalAddress
from contracts.envelope import EventPayload
from contracts.identity import (
    ACCESS_TOKEN_AUDIENCE,
    ACCESS_TOKEN_ISSUER,
    AccessRequested,
    EmailConfirmed,
    PartnerLinked,
    PasswordResetRequested,
    SessionEnded,
)
from contracts.masterdata import MeterPointRecorded, PartnerOfRecord
from contracts.topics import IDENTITY
from kit import energy_day
from kit.consumer import Delivered
from kit.events import envelope_for
from kit.registration import registration_code, registration_code_hash
from kit.tenants import Tenant, load_tenants
from services.identity import crypto, domain, handlers
from services.identity.domain import AccessAttempt, Account, BrowserSession, HoldScope, LinkPurpose
from services.identity.handlers import Deps, LoginRefused, NewSession
from services.identity.settings import IdentitySettings
from tests.unit.fakes import FakeClock, FakeUnits
from tests.unit.identity.fake_store import FakeIdentityStore

PASSWORD = "Sonnenblumen am Deich 2026"
PASSWORD_HASH = crypto.HASHER.hash(PASSWORD)
METER = "1EMH0005939068"
CONSUMPTION, FEED_IN = "3236513735", "5344863893"  # random digits: partner numbers are not counted up
HOME = PostalAddress(street="Postweg", house_number="1", postcode="12345", city="Musterstadt")

Units = FakeUnits[FakeIdentityStore]


@pytest.fixture
def tenant() -> Tenant:
    return load_tenants().get("000328")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def units(clock: FakeClock, tenant: Tenant) -> Units:
    units = FakeUnits(FakeIdentityStore(), clock)
    partners = (
        PartnerOfRecord(partner_number=CONSUMPTION, role=PartnerRole.CONSUMPTION, name="Erika", postal_address=HOME),
        PartnerOfRecord(partner_number=FEED_IN, role=PartnerRole.FEED_IN, name="Erika", postal_address=HOME),
    )
    point = MeterPointRecorded(meter_number=METER, connection_address=HOME, partners=partners, recorded_at=clock())
    units.master_data.points[(tenant.portal_number, METER)] = point
    return units


@pytest.fixture
def deps(tmp_path: Path) -> Deps:
    settings = IdentitySettings.model_construct(signing_key_file=tmp_path / "key.pem")
    return Deps(settings, crypto.TokenSigner(tmp_path / "key.pem"), crypto.DeviceCookies(SecretStr("test-cookie-key")))


def registered(units: Units, tenant: Tenant, email: str, *partner_numbers: str) -> Account:
    now = units.clock()
    account = Account(uuid4(), tenant.portal_number, email, PASSWORD_HASH, now, now)
    for number in partner_numbers:
        account.link(number, METER, "consumption" if number == CONSUMPTION else "feed_in", now)
    units.store.accounts[account.id] = account
    return account


P = TypeVar("P", bound=EventPayload)


def delivered(units: Units, tenant: Tenant, payload: P) -> Delivered[P]:
    envelope = envelope_for(payload, tenant=tenant.portal_number, correlation_id=uuid4(), occurred_at=units.clock())
    return Delivered(envelope, payload, tenant)


async def ask_access(
    units: Units, deps: Deps, tenant: Tenant, partner: str, email: str, meter: str = METER, code: str | None = None
) -> None:
    payload = AccessRequested(meter_number=meter, partner_number=partner, email=email, registration_code=code)
    await handlers.handle_access_request(delivered(units, tenant, payload), units.unit(), deps=deps)


async def ask_reset(units: Units, deps: Deps, tenant: Tenant, email: str) -> None:
    payload = PasswordResetRequested(email=email)
    await handlers.handle_reset_request(delivered(units, tenant, payload), units.unit(), deps=deps)


def token_of_last_mail(units: Units) -> str:
    match = re.search(r"#token=(\S+)", units.outbox.mails[-1].text)
    assert match, units.outbox.mails[-1].text
    return match.group(1)


async def login(units: Units, deps: Deps, tenant: Tenant, email: str, password: str) -> NewSession | LoginRefused:
    return await handlers.login(handlers.Login(tenant, email, password, None, "test"), units.unit(), deps=deps)


# --- access requests ------------------------------------------------------------------------------------


async def test_a_first_partner_number_gets_a_link_to_set_a_password(units: Units, deps: Deps, tenant: Tenant) -> None:
    await ask_access(units, deps, tenant, CONSUMPTION, "erika@example.org")
    [mail] = units.outbox.mails
    assert (mail.recipient, mail.purpose) == ("erika@example.org", "access-confirmation")
    assert "vergeben Sie Ihr Passwort" in mail.text and f"{tenant.portal_url}/zugang/bestaetigen#token=" in mail.text
    [link] = units.store.links.values()
    assert (link.purpose, link.account_id, link.partner_number, link.role) == (
        LinkPurpose.ACCESS,
        None,
        CONSUMPTION,
        "consumption",
    )
    assert link.token_hash == crypto.token_hash(token_of_last_mail(units))  # only the hash is kept


async def test_a_further_partner_number_for_a_login_asks_to_prove_the_password(
    units: Units, deps: Deps, tenant: Tenant
) -> None:
    account = registered(units, tenant, "erika@example.org", CONSUMPTION)
    await ask_access(units, deps, tenant, FEED_IN, "erika@example.org")
    [mail] = units.outbox.mails
    assert mail.purpose == "access-confirmation" and "hinzufügen" in mail.text
    [link] = units.store.links.values()
    assert link.account_id == account.id


async def test_asking_again_for_ones_own_number_says_the_login_exists(units: Units, deps: Deps, tenant: Tenant) -> None:
    registered(units, tenant, "erika@example.org", CONSUMPTION)
    await ask_access(units, deps, tenant, CONSUMPTION, "erika@example.org")
    [mail] = units.outbox.mails
    assert (mail.recipient, mail.purpose) == ("erika@example.org", "access-already-registered")
    assert units.store.links == {}


async def test_someone_elses_number_is_refused_and_its_owner_warned(units: Units, deps: Deps, tenant: Tenant) -> None:
    registered(units, tenant, "owner@example.org", CONSUMPTION)
    await ask_access(units, deps, tenant, CONSUMPTION, "intruder@example.org")
    sent = {(mail.recipient, mail.purpose) for mail in units.outbox.mails}
    assert sent == {("intruder@example.org", "access-not-possible"), ("owner@example.org", "access-owner-warning")}
    assert units.store.links == {}


async def test_an_invalid_pair_is_counted_and_after_five_in_a_day_requests_are_ignored(
    units: Units, deps: Deps, tenant: Tenant, clock: FakeClock
) -> None:
    """Per partner number (a customer who mistypes the meter a few times is not alerted on)."""
    for number in range(5):
        await ask_access(units, deps, tenant, CONSUMPTION, f"guess{number}@example.org", meter=f"1EMH000000000{number}")
    assert len(units.store.failures) == 5 and units.outbox.mails == [] and units.store.alerts == {}
    await ask_access(units, deps, tenant, CONSUMPTION, "erika@example.org")  # 5 for this number: even the right pair
    assert units.outbox.mails == []
    clock.advance(timedelta(hours=24))
    await ask_access(units, deps, tenant, CONSUMPTION, "erika@example.org")
    assert [mail.purpose for mail in units.outbox.mails] == ["access-confirmation"]


async def test_guesses_at_one_meter_hold_it_and_alert_the_back_office(
    units: Units, deps: Deps, tenant: Tenant, clock: FakeClock
) -> None:
    """Each guess is the first failure of "its" partner number, from its own e-mail: the meter counts them all."""
    for guess in range(domain.FAILURES_PER_METER):
        await ask_access(units, deps, tenant, f"47119{guess:05d}", f"guess{guess}@example.org")
    assert units.store.alerts == {(tenant.portal_number, HoldScope.METER, METER): (clock(), 0)}
    await ask_access(units, deps, tenant, CONSUMPTION, "attacker@example.org")  # the right guess, too late
    await ask_access(units, deps, tenant, CONSUMPTION, "erika@example.org")  # also the customer typing by hand
    assert units.outbox.mails == [] and units.store.links == {}
    assert units.store.alerts[(tenant.portal_number, HoldScope.METER, METER)][1] == 2  # held requests shown
    clock.advance(domain.ACCESS_FAILURE_WINDOW)
    await ask_access(units, deps, tenant, CONSUMPTION, "erika@example.org")
    assert [mail.purpose for mail in units.outbox.mails] == ["access-confirmation"]


async def test_the_letters_code_admits_its_request_while_the_meter_is_held_once(
    units: Units, deps: Deps, tenant: Tenant, clock: FakeClock
) -> None:
    code = registration_code(b"k" * 32, tenant.portal_number, uuid4(), CONSUMPTION)
    expires = clock() + timedelta(days=90)
    await units.store.add_registration_code(
        tenant.portal_number, registration_code_hash(code), METER, CONSUMPTION, expires
    )
    for guess in range(domain.FAILURES_PER_METER):
        await ask_access(units, deps, tenant, f"47119{guess:05d}", f"guess{guess}@example.org")
    await ask_access(units, deps, tenant, FEED_IN, "erika@example.org", code=code)  # the code of another number
    await ask_access(units, deps, tenant, CONSUMPTION, "erika@example.org", code=code)
    assert [mail.purpose for mail in units.outbox.mails] == ["access-confirmation"]
    await ask_access(units, deps, tenant, CONSUMPTION, "erika@example.org", code=code)  # single use
    assert len(units.outbox.mails) == 1


async def test_a_guess_spread_over_many_meters_holds_the_operator(
    units: Units, deps: Deps, tenant: Tenant, clock: FakeClock
) -> None:
    for guess in range(domain.FAILURES_PER_TENANT):
        await units.store.add_failure(
            tenant.portal_number, AccessAttempt(f"1EMH{guess:010d}", f"4712{guess:06d}", f"key{guess}"), clock()
        )
    await ask_access(units, deps, tenant, CONSUMPTION, "erika@example.org")
    assert units.outbox.mails == []
    assert (tenant.portal_number, HoldScope.OPERATOR, "") in units.store.alerts


async def test_a_hundred_resets_for_one_email_send_a_bounded_number_of_mails(
    units: Units, deps: Deps, tenant: Tenant, clock: FakeClock
) -> None:
    account = registered(units, tenant, "erika@example.org", CONSUMPTION)
    for _ in range(100):
        await ask_reset(units, deps, tenant, account.email)
    assert len(units.outbox.mails) == domain.UNSOLICITED_MAILS_PER_RECIPIENT
    await ask_access(units, deps, tenant, CONSUMPTION, account.email)  # the same mailbox, another kind of mail
    assert len(units.outbox.mails) == domain.UNSOLICITED_MAILS_PER_RECIPIENT
    clock.advance(domain.UNSOLICITED_MAIL_WINDOW)
    await ask_reset(units, deps, tenant, account.email)
    assert len(units.outbox.mails) == domain.UNSOLICITED_MAILS_PER_RECIPIENT + 1


# --- links ----------------------------------------------------------------------------------------------


async def test_a_confirmation_link_expires_after_24_hours(
    units: Units, deps: Deps, tenant: Tenant, clock: FakeClock
) -> None:
    await ask_access(units, deps, tenant, CONSUMPTION, "late@example.org")
    late = token_of_last_mail(units)
    clock.advance(timedelta(hours=24, seconds=1))
    with pytest.raises(handlers.InvalidLink):
        await handlers.complete_access(handlers.CompleteAccess(tenant, late, PASSWORD), units.unit(), deps=deps)

    await ask_access(units, deps, tenant, CONSUMPTION, "late@example.org")
    fresh = token_of_last_mail(units)
    clock.advance(timedelta(hours=23, minutes=59))
    account_id = await handlers.complete_access(
        handlers.CompleteAccess(tenant, fresh, PASSWORD), units.unit(), deps=deps
    )
    [confirmed] = units.outbox.of_type(EmailConfirmed)
    [linked] = units.outbox.of_type(PartnerLinked)
    assert confirmed.account_id == linked.account_id == str(account_id) and linked.partner_number == CONSUMPTION
    assert {(e.topic, e.key) for e in units.outbox.events} == {(IDENTITY.name, str(account_id))}
    with pytest.raises(handlers.InvalidLink):  # once only
        await handlers.complete_access(handlers.CompleteAccess(tenant, fresh, PASSWORD), units.unit(), deps=deps)


# --- login ----------------------------------------------------------------------------------------------


async def test_wrong_passwords_make_logins_wait_and_the_right_one_resets_the_wait(
    units: Units, deps: Deps, tenant: Tenant, clock: FakeClock
) -> None:
    registered(units, tenant, "erika@example.org", CONSUMPTION)
    answers = [await login(units, deps, tenant, "erika@example.org", "ganz sicher falsch") for _ in range(5)]
    assert answers == [LoginRefused(retry_after=None)] * 5
    assert await login(units, deps, tenant, "erika@example.org", PASSWORD) == LoginRefused(retry_after=60)
    clock.advance(timedelta(seconds=60))
    assert isinstance(await login(units, deps, tenant, "Erika@Example.org ", PASSWORD), NewSession)
    [throttle] = units.store.throttles.values()
    assert (throttle.failures, throttle.wait_until) == (0, None)
    assert isinstance(await login(units, deps, tenant, "erika@example.org", PASSWORD), NewSession)


async def test_unknown_emails_get_the_same_refusals_and_waits(units: Units, deps: Deps, tenant: Tenant) -> None:
    answers = [await login(units, deps, tenant, "nobody@example.org", "ganz sicher falsch") for _ in range(6)]
    assert answers == [LoginRefused(retry_after=None)] * 5 + [LoginRefused(retry_after=60)]


async def test_a_login_with_one_partner_number_acts_as_it(units: Units, deps: Deps, tenant: Tenant) -> None:
    account = registered(units, tenant, "erika@example.org", CONSUMPTION)
    new = await login(units, deps, tenant, "erika@example.org", PASSWORD)
    assert isinstance(new, NewSession) and new.device_cookie
    assert (new.session.partner_number, new.session.role) == (CONSUMPTION, "consumption")
    assert new.account.id == account.id and [link.partner_number for link in new.account.links] == [CONSUMPTION]
    assert units.store.sessions[crypto.token_hash(new.token)] == new.session
    token = handlers.issue_access_token(handlers.IssueAccessToken(new.session), units.unit(), deps=deps)
    claims = jwt.decode(token.value, options={"verify_signature": False})
    assert (claims["iss"], claims["aud"], claims["partner"]) == (
        ACCESS_TOKEN_ISSUER,
        ACCESS_TOKEN_AUDIENCE,
        CONSUMPTION,
    )


# --- sessions -------------------------------------------------------------------------------------------


async def _signed_in(units: Units, deps: Deps, tenant: Tenant, *partner_numbers: str) -> NewSession:
    registered(units, tenant, "erika@example.org", *partner_numbers)
    new = await login(units, deps, tenant, "erika@example.org", PASSWORD)
    assert isinstance(new, NewSession)
    return new


async def _current(units: Units, tenant: Tenant, token: str) -> BrowserSession | None:
    return await handlers.current_session(handlers.CurrentSession(tenant, token), units.unit())


async def test_a_session_ends_after_30_minutes_idle(units: Units, deps: Deps, tenant: Tenant, clock: FakeClock) -> None:
    new = await _signed_in(units, deps, tenant, CONSUMPTION)
    clock.advance(timedelta(minutes=30))
    seen = await _current(units, tenant, new.token)
    assert seen and seen.last_seen_at == clock()
    clock.advance(timedelta(minutes=30, seconds=1))
    assert await _current(units, tenant, new.token) is None
    assert units.store.sessions == {}  # ended, not just refused


async def test_a_session_ends_12_hours_after_the_login_however_active(
    units: Units, deps: Deps, tenant: Tenant, clock: FakeClock
) -> None:
    new = await _signed_in(units, deps, tenant, CONSUMPTION)
    for _ in range(28):  # every 25 minutes: 11 h 40 min
        clock.advance(timedelta(minutes=25))
        assert await _current(units, tenant, new.token)
    clock.advance(timedelta(minutes=20, seconds=1))
    assert await _current(units, tenant, new.token) is None


async def test_a_session_belongs_to_its_tenant(units: Units, deps: Deps, tenant: Tenant) -> None:
    new = await _signed_in(units, deps, tenant, CONSUMPTION)
    other = load_tenants().get("000512")
    assert await _current(units, other, new.token) is None
    assert await _current(units, tenant, new.token)  # still alive at its own portal


async def test_choosing_a_partner_number_only_of_ones_own_with_a_new_session(
    units: Units, deps: Deps, tenant: Tenant, clock: FakeClock
) -> None:
    registered(units, tenant, "stranger@example.org", "4711000099")
    new = await _signed_in(units, deps, tenant, CONSUMPTION, FEED_IN)
    assert new.session.partner_number is None and len(new.account.links) == 2
    with pytest.raises(handlers.NotAllowed):
        handlers.issue_access_token(handlers.IssueAccessToken(new.session), units.unit(), deps=deps)
    with pytest.raises(handlers.NotAllowed):
        await handlers.choose_partner(handlers.ChoosePartner(new.session, "4711000099"), units.unit())

    clock.advance(timedelta(minutes=5))
    chosen = await handlers.choose_partner(handlers.ChoosePartner(new.session, FEED_IN), units.unit())
    assert (chosen.session.partner_number, chosen.session.role) == (FEED_IN, "feed_in")
    assert chosen.token != new.token and chosen.session.created_at == new.session.created_at  # absolute limit kept
    assert await _current(units, tenant, new.token) is None  # the old id is dead
    assert list(units.store.sessions) == [crypto.token_hash(chosen.token)]


# --- proving the current password ---------------------------------------------------------------------


async def test_the_current_password_backs_off_like_a_login(
    units: Units, deps: Deps, tenant: Tenant, clock: FakeClock
) -> None:
    """A stolen session must not guess the password by "changing" it or deleting the account."""
    account = registered(units, tenant, "erika@example.org", CONSUMPTION)
    signed_in = await login(units, deps, tenant, account.email, PASSWORD)
    assert isinstance(signed_in, NewSession)
    current = signed_in.session

    async def change(old: str) -> LoginRefused | None:
        command = handlers.ChangePassword(tenant, current, old, "Ein ganz neues Passwort am Deich")
        return await handlers.change_password(command, units.unit(), deps=deps)

    async def delete(password: str) -> LoginRefused | None:
        return await handlers.delete_account(handlers.DeleteAccount(tenant, current, password), units.unit())

    refusals = [await change("geraten-geraten") for _ in range(3)] + [await delete("geraten") for _ in range(2)]
    assert refusals == [LoginRefused(retry_after=None)] * 5  # the failures are counted, as at login
    waiting = await delete(PASSWORD)  # even the right password waits now
    assert isinstance(waiting, LoginRefused) and waiting.retry_after
    assert isinstance(await login(units, deps, tenant, account.email, PASSWORD), LoginRefused)  # one back-off
    clock.advance(timedelta(seconds=waiting.retry_after))
    assert await change(PASSWORD) is None
    assert [mail.purpose for mail in units.outbox.mails][-1] == "password-changed"


# --- sessions that end before their access tokens expire ------------------------------------------------


async def test_logout_password_change_and_deletion_end_the_sessions_access_tokens(
    units: Units, deps: Deps, tenant: Tenant
) -> None:
    """Each ended session is published (SessionEnded, by its tokens' sid): meter data refuses its tokens at once."""
    account = registered(units, tenant, "erika@example.org", CONSUMPTION)
    one, two, three = [await login(units, deps, tenant, "erika@example.org", PASSWORD) for _ in range(3)]
    assert isinstance(one, NewSession) and isinstance(two, NewSession) and isinstance(three, NewSession)
    units.outbox.events.clear()

    def ended() -> list[tuple[str, str]]:
        published = [e for e in units.outbox.events if isinstance(e.event, SessionEnded)]
        assert {(e.topic, e.key) for e in published} <= {(IDENTITY.name, str(account.id))}
        units.outbox.events.clear()
        events: list[SessionEnded] = [e.event for e in published]  # type: ignore[misc]
        return [(e.sid, e.reason) for e in events]

    await handlers.logout(handlers.Logout(one.session), units.unit())
    now = units.clock()
    assert ended() == [(one.session.sid, "logout")]
    assert one.session.sid == one.session.id_hash[:16]  # what its access tokens carry (issue_access_token)
    valid_until = one.session.ended("logout", now).tokens_valid_until
    assert valid_until == now + domain.ACCESS_TOKEN_VALID + domain.CLOCK_SKEW  # its last token expired by then

    change = handlers.ChangePassword(tenant, two.session, PASSWORD, "Ein ganz neues Passwort 2026!")
    await handlers.change_password(change, units.unit(), deps=deps)
    assert ended() == [(three.session.sid, "password-changed")]  # the session that changed it goes on

    deletion = handlers.DeleteAccount(tenant, two.session, "Ein ganz neues Passwort 2026!")
    await handlers.delete_account(deletion, units.unit())
    assert ended()[0] == (two.session.sid, "account-deleted")


async def test_a_partner_whose_relations_have_all_ended_is_shown_as_moved_out(
    units: Units, deps: Deps, tenant: Tenant, clock: FakeClock
) -> None:
    last_day = energy_day.day_of(clock()) - timedelta(days=1)  # moved out yesterday
    point = units.master_data.points[(tenant.portal_number, METER)]
    partners = tuple(
        p.model_copy(update={"valid_to": last_day}) if p.partner_number == CONSUMPTION else p for p in point.partners
    )
    units.master_data.points[(tenant.portal_number, METER)] = point.model_copy(update={"partners": partners})
    new = await _signed_in(units, deps, tenant, CONSUMPTION, FEED_IN)
    assert new.moved_out == {CONSUMPTION: last_day}  # feed-in goes on
    shown = await handlers.show_session(handlers.CurrentSession(tenant, new.token), units.unit())
    assert shown is not None and shown.moved_out == {CONSUMPTION: last_day}
    switched = await handlers.choose_partner(handlers.ChoosePartner(new.session, CONSUMPTION), units.unit())
    assert switched.moved_out == {CONSUMPTION: last_day}  # and may still be chosen: the days up to it stay visible


async def test_a_move_out_still_ahead_is_not_shown(units: Units, deps: Deps, tenant: Tenant, clock: FakeClock) -> None:
    point = units.master_data.points[(tenant.portal_number, METER)]
    today = energy_day.day_of(clock())
    partners = tuple(p.model_copy(update={"valid_to": today}) for p in point.partners)  # today is still theirs
    units.master_data.points[(tenant.portal_number, METER)] = point.model_copy(update={"partners": partners})
    new = await _signed_in(units, deps, tenant, CONSUMPTION)
    assert new.moved_out == {}
