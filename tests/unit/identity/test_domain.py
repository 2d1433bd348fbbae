from datetime import timedelta

import pytest

from services.identity.crypto import common_passwords
from services.identity.domain import (
    AccessFailures,
    AccessOutcome,
    HoldScope,
    decide_access,
    login_wait,
    newly_held,
    password_problem,
)

EMAIL = "erika.mustermann@example.org"


@pytest.mark.parametrize(
    "password",
    [
        "Sonnenblumen am Deich 2026",
        "Tür zu, Katze raus",
        "ä" * 2 + "Kürbiskernöl-Brot",
        "a" * 60 + "ZqW8" + "b" * 64,  # 128 characters: allowed, not truncated
    ],
)
def test_long_uncommon_passwords_pass_without_composition_rules(password: str) -> None:
    assert password_problem(password, EMAIL, common_passwords()) is None


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("kurz", "mindestens 12"),
        ("x" * 129, "höchstens 128"),
        ("passwordpassword", "verbreitet"),
        ("Passwort2024!!", "verbreitet"),
        ("fussball123456", "verbreitet"),
        ("qwertyuiopasdfgh", "verbreitet"),
        ("aaaaaaaaaaaaaaaa", "verbreitet"),
        ("mustermann-erika-2026", "E-Mail"),
        ("asdfghjklöä1234", "verbreitet"),
        ("erika.mustermann@example.org", "E-Mail"),
    ],
)
def test_short_common_or_email_like_passwords_are_refused_in_plain_german(password: str, reason: str) -> None:
    problem = password_problem(password, EMAIL, common_passwords())
    assert problem and reason in problem


def test_login_back_off_grows_a_minute_per_failure_up_to_fifteen_and_never_locks() -> None:
    assert [login_wait(n) for n in range(5)] == [timedelta(0)] * 5
    assert login_wait(5) == timedelta(minutes=1)
    assert login_wait(7) == timedelta(minutes=3)
    assert login_wait(10_000) == timedelta(minutes=15)


@pytest.mark.parametrize(
    ("known", "failures", "owner", "has_login", "expected"),
    [
        (True, 0, None, False, AccessOutcome.NEW_LOGIN),
        (True, 0, None, True, AccessOutcome.ADD_PARTNER),
        (True, 0, EMAIL, True, AccessOutcome.ALREADY_YOURS),
        (True, 0, "someone@example.org", False, AccessOutcome.SOMEONE_ELSES),
        (False, 4, None, False, AccessOutcome.INVALID_PAIR),
        (True, 5, None, False, AccessOutcome.IGNORED),  # guessing stops even a right pair for a while
    ],
)
def test_access_decisions(
    known: bool, failures: int, owner: str | None, has_login: bool, expected: AccessOutcome
) -> None:
    assert (
        decide_access(
            pair_known=known,
            failures=AccessFailures(partner=failures),
            with_letter_code=False,
            owner_email=owner,
            requester_has_login=has_login,
            email=EMAIL,
        )
        == expected
    )


@pytest.mark.parametrize(
    ("failures", "held"),
    [
        (AccessFailures(), None),
        (AccessFailures(partner=4, meter=2, email=4, tenant=199), None),
        (AccessFailures(partner=5), HoldScope.REQUEST),
        (AccessFailures(email=5), HoldScope.REQUEST),
        (AccessFailures(meter=3), HoldScope.METER),
        (AccessFailures(partner=5, meter=3), HoldScope.METER),
        (AccessFailures(meter=3, tenant=200), HoldScope.OPERATOR),
    ],
)
def test_what_holds_requests(failures: AccessFailures, held: HoldScope | None) -> None:
    assert failures.hold() == held


def test_an_alert_is_raised_once_when_a_meter_or_the_operator_reaches_its_limit() -> None:
    assert newly_held(AccessFailures(meter=2), AccessFailures(meter=3)) == HoldScope.METER
    assert newly_held(AccessFailures(meter=3), AccessFailures(meter=4)) is None  # already held
    assert newly_held(AccessFailures(partner=4), AccessFailures(partner=5)) is None  # a single number: no alert
    assert newly_held(AccessFailures(meter=5, tenant=199), AccessFailures(meter=6, tenant=200)) == HoldScope.OPERATOR


def test_the_letters_code_admits_a_held_request() -> None:
    held = AccessFailures(meter=3)
    common = {"pair_known": True, "failures": held, "owner_email": None, "requester_has_login": False, "email": EMAIL}
    assert decide_access(with_letter_code=False, **common) == AccessOutcome.IGNORED  # type: ignore[arg-type]
    assert decide_access(with_letter_code=True, **common) == AccessOutcome.NEW_LOGIN  # type: ignore[arg-type]
