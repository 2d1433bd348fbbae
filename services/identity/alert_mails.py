"""The mail that tells a customer an alert of theirs was raised ([10 of 11] §2): meter data judges the readings and
publishes ``AlertRaised``; identity, which knows the e-mail address, writes to the account linked to the partner
number. Plain Python, German and plain: what happened, the figure, a link to the portal, the link that turns the
alert off."""

from contracts.alerts import ALERT_UNITS, AlertKind, AlertRaised
from services.identity.domain import MailText, signed_mail


def _number(value: float, digits: int = 1) -> str:
    text = f"{value:,.{digits}f}".replace(",", " ").replace(".", ",").replace(" ", ".")
    return text.removesuffix(",0") if digits == 1 else text


def alert_mail(operator: str, phone: str, portal_url: str, raised: AlertRaised) -> MailText:
    day = raised.period.strftime("%d.%m.%Y")
    unit = ALERT_UNITS[raised.kind]
    limit = f"{_number(raised.threshold)} {unit}"
    ending = raised.partner_number[-4:]
    off_link = f"{portal_url}{raised.off_path}"
    match raised.kind:
        case AlertKind.DAILY_CONSUMPTION:
            subject = "Hoher Tagesverbrauch"
            lines = [
                f"Ihr Verbrauch am {day} lag bei {_number(raised.value)} kWh – mehr als die {limit},",
                "die Sie als Grenze angegeben haben.",
            ]
        case AlertKind.NIGHT_BASE_LOAD:
            subject = "Hohe Grundlast in der Nacht"
            lines = [
                f"In der Nacht am {day} (00:00 bis 04:00 Uhr) brauchten Sie durchgehend mindestens",
                f"{_number(raised.value, 0)} W – mehr als die {limit}, die Sie als Grenze angegeben haben.",
                "Vielleicht läuft ein Gerät, das nachts aus sein sollte.",
            ]
        case AlertKind.PV_WITHOUT_FEED_IN:
            subject = "Ihre PV-Anlage hat nicht eingespeist"
            lines = [
                f"Ihre PV-Anlage hat am {day} nichts eingespeist. Am selben Tag haben {int(raised.value)} von",
                f"{raised.peers} Anlagen in Ihrer Umgebung eingespeist. Bitte prüfen Sie Ihre Anlage,",
                "zum Beispiel den Wechselrichter.",
            ]
        case AlertKind.MISSING_DATA:
            subject = "Keine Messwerte"
            lines = [
                f"Seit dem {day} sind für Ihren Zähler keine Messwerte angekommen ({int(raised.value)} Tage,",
                f"mehr als die {limit}, die Sie angegeben haben). Wir kümmern uns darum; Sie müssen nichts tun.",
            ]
    lines = [
        f"es gibt eine Benachrichtigung zu Ihrer Geschäftspartner-Nr. …{ending}:",
        "",
        *lines,
        "",
        f"Ihre Werte im Kundenportal: {portal_url}/verbrauch",
        "",
        "Diese Benachrichtigung möchten Sie nicht mehr? Hier schalten Sie sie mit einem Klick aus:",
        off_link,
    ]
    # Mail programs that know RFC 8058 also offer the off link as their own button (one POST, no page).
    return MailText(subject, signed_mail(operator, phone, lines), unsubscribe_url=off_link)
