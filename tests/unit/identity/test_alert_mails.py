"""The mail identity writes when meter data raised an alert ([10 of 11] §2)."""

from datetime import date
from uuid import uuid4

from contracts.alerts import AlertKind, AlertRaised
from contracts.common import PartnerRole
from services.identity.alert_mails import alert_mail

NORMAL = date(2026, 11, 30)
OFF = f"/api/meterdata/alerts/off?alert={uuid4()}&sig=" + "A" * 43


def test_the_mail_says_what_happened_with_both_links() -> None:
    event = AlertRaised(
        alert_id=str(uuid4()),
        occurrence_id=str(uuid4()),
        partner_number="1000000001",
        role=PartnerRole.CONSUMPTION,
        kind=AlertKind.DAILY_CONSUMPTION,
        threshold=10,
        period=NORMAL,
        value=19.2,
        off_path=OFF,
    )
    mail = alert_mail("Stadtwerke Musterstadt", "0800 123", "https://portal.example", event)
    assert mail.subject == "Hoher Tagesverbrauch"
    assert "am 30.11.2026 lag bei 19,2 kWh – mehr als die 10 kWh" in mail.text
    assert "…0001" in mail.text and "1000000001" not in mail.text
    assert "https://portal.example/verbrauch" in mail.text
    assert f"https://portal.example{event.off_path}" in mail.text
    assert mail.unsubscribe_url == f"https://portal.example{event.off_path}"  # RFC 8058: the mail program's button


def test_each_kind_has_its_mail() -> None:
    for kind, value, peers, says in (
        (AlertKind.NIGHT_BASE_LOAD, 400.0, None, "mindestens\n400 W – mehr als die 300 W"),
        (AlertKind.PV_WITHOUT_FEED_IN, 5.0, 6, "haben 5 von\n6 Anlagen in Ihrer Umgebung eingespeist"),
        (AlertKind.MISSING_DATA, 4.0, None, "(4 Tage,\nmehr als die 3 Tage"),
    ):
        role = PartnerRole.FEED_IN if kind == AlertKind.PV_WITHOUT_FEED_IN else PartnerRole.CONSUMPTION
        event = AlertRaised(
            alert_id=str(uuid4()), occurrence_id=str(uuid4()), partner_number="2000000001", role=role, kind=kind,
            threshold=3 if kind == AlertKind.MISSING_DATA else 300, period=NORMAL, value=value, peers=peers,
            off_path=OFF,
        )  # fmt: skip
        mail = alert_mail("Stadtwerke Musterstadt", "0800 123", "https://portal.example", event)
        assert "30.11.2026" in mail.text and says in mail.text and OFF in mail.text, mail.text
