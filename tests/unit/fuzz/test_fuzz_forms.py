"""Fuzzing the forms customers fill in: onboarding's request form and identity's access request and the other
identity forms. Documented error: pydantic's ``ValidationError`` (kit.http answers it with 422 and the German
reasons); anything else escaping fails. A form that validates must go on into its events without another
ValidationError (that one would be a 500)."""

import contextlib
from typing import Any
from uuid import uuid4

from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from contracts.identity import AccessRequested
from services.identity import api as identity_api
from services.identity.domain import normalise_email
from services.onboarding import api as onboarding_api
from services.onboarding.domain import PartnerNumberRequest, copy_of_message
from tests.unit.fuzz.strategies import JSON, ODD_TEXT, mutated_json

ADDRESS = {"street": "Lindenweg", "house_number": "4", "postcode": "12345", "city": "Musterstadt"}
REQUEST = {
    "submission_id": "5b0f1f9e-58a4-4bd6-9a0e-8e1b6f3f2a10",
    "first_name": "Erika",
    "last_name": "Mustermann",
    "postal_address": ADDRESS,
    "connection_address": ADDRESS,
    "meter_number": "1 EMH 0005 9390 68",
    "email": "erika.mustermann@example.org",
    "phone": "+49 30 1234567",
    "website": "",
}
ACCESS = {
    "meter_number": "1emh0005939068",
    "partner_number": "3236 5137 35",
    "email": "Erika.Mustermann@example.org",
    "registration_code": "abcdefghijklmnopqrstuvwxyz012345",
}
# Text customers type: letters from everywhere, digits of other scripts, spaces and controls.
TYPED = st.one_of(ODD_TEXT, st.text(st.characters(blacklist_categories=["Cs"]), max_size=40))


def validated(form: type[BaseModel], data: Any) -> Any:
    try:
        return form.model_validate(data)
    except ValidationError:
        return None


def mutated_form(valid: dict[str, Any]) -> st.SearchStrategy[Any]:
    """The valid form with values replaced by any JSON, or a text field by exotic text."""
    typed = st.sampled_from(sorted(valid)).flatmap(lambda key: TYPED.map(lambda text: {**valid, key: text}))
    address = st.sampled_from(sorted(ADDRESS)).flatmap(
        lambda key: TYPED.map(lambda text: {**valid, "postal_address": {**ADDRESS, key: text}})
    )
    return (
        st.one_of(mutated_json(valid), typed, address)
        if "postal_address" in valid
        else st.one_of(mutated_json(valid), typed)
    )


# Found: str.isdigit() takes fullwidth, Arabic-Indic and superscript digits, so "１２３４５" passed the form's postcode
# check and the contract's PostalAddress (ASCII digits) raised ValidationError inside the route: a 500.
@example({**REQUEST, "postal_address": {**ADDRESS, "postcode": "１２３４５"}})
@example({**REQUEST, "connection_address": {**ADDRESS, "postcode": "٠١٢٣٤"}})
@example({**REQUEST, "postal_address": {**ADDRESS, "postcode": "1²³⁴⁵"}})
@given(mutated_form(REQUEST))
def test_the_request_form_is_valid_for_the_events_or_refused_with_a_validation_error(data: Any) -> None:
    form = validated(onboarding_api.RequestForm, data)
    if form is None:
        return
    request = PartnerNumberRequest.submit(uuid4(), "000328", form.meter_number, form.customer(), form.submission_id)
    subject, text = copy_of_message("Stadtwerke Musterstadt", "0800 123", request)
    assert subject and form.meter_number in text
    assert len(form.meter_number) == 14


@given(mutated_form(ACCESS))
def test_the_access_request_is_valid_for_its_event_or_refused_with_a_validation_error(data: Any) -> None:
    form = validated(identity_api.AccessRequestForm, data)
    if form is None:
        return
    event = AccessRequested(
        meter_number=form.meter_number,
        partner_number=form.partner_number,
        email=normalise_email(str(form.email)),
        registration_code=form.registration_code,
    )
    assert event.partner_number.isascii() and event.partner_number.isdigit()


OTHER_FORMS: list[type[BaseModel]] = [
    identity_api.EmailForm,
    identity_api.LinkForm,
    identity_api.PasswordForm,
    identity_api.LoginForm,
    identity_api.PartnerChoice,
    identity_api.PasswordChange,
    identity_api.PasswordProof,
    onboarding_api.Approval,
    onboarding_api.Rejection,
    onboarding_api.AddressForm,
]
FIELDS = sorted({name for form in OTHER_FORMS for name in form.model_fields})


@given(
    st.sampled_from(OTHER_FORMS),
    st.one_of(JSON, st.dictionaries(st.sampled_from(FIELDS), st.one_of(TYPED, JSON), max_size=4)),
)
def test_every_other_form_is_read_or_refused_with_a_validation_error(form: type[BaseModel], data: Any) -> None:
    validated(form, data)


@given(st.sampled_from([onboarding_api.RequestForm, identity_api.AccessRequestForm, *OTHER_FORMS]), st.binary())
def test_a_form_body_of_any_bytes_is_read_or_refused_with_a_validation_error(
    form: type[BaseModel], body: bytes
) -> None:
    with contextlib.suppress(ValidationError):
        form.model_validate_json(body)
