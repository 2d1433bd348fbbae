"""What `make up` prints once everything runs: where to click, as a German walk-through of the demo."""

from __future__ import annotations

from pathlib import Path

from stack import shown
from stack.demo import (
    DEMO_EMAIL,
    DEMO_METER,
    DEMO_OPERATORS,
    DEMO_PARTNER,
    DEMO_PASSWORD,
    DEMO_READINGS_DAYS,
    DEMO_SOLAR_EMAIL,
    DEMO_SOLAR_METER,
    DEMO_SOLAR_PARTNERS,
    DEMO_STAFF_PASSWORD,
    DEMO_TENANT,
    demo_staff,
    demo_tenants,
)
from stack.gateway import Gateway
from stack.processes import Site, mail_store, mailsink, platform_processes, printed_dir

API_LABELS = {
    "onboarding": "Antrag (Onboarding)",
    "identity": "Zugang (Identity)",
    "meterdata": "Messwerte (Meterdata)",
    "letters": "Briefe (Back-Office)",
}


def summary(site: Site, gateway: Gateway, logs: Path, ready_after_s: float) -> str:
    """The walk-through: portal links, the demo journey step by step, APIs, where mails, letters and logs are."""
    portal = gateway.url(DEMO_TENANT)
    names = ", ".join(spec.name for spec in (mailsink(site), *platform_processes(site)))
    rule = "═" * 96
    opened = [f"{gateway.url(tenant)} ({DEMO_OPERATORS.get(tenant, tenant)})" for tenant in demo_tenants()]
    docs = [(label, site.http_ports[name]) for name, label in API_LABELS.items()]
    solar_first, solar_second = DEMO_SOLAR_PARTNERS
    lines = [
        rule,
        f"  Plusportal läuft (bereit nach {ready_after_s:.0f} s)",
        rule,
        f"  Portal öffnen: {' und '.join(opened)}",
        "",
        f"  Einmal durchspielen als Erika Mustermann ({DEMO_OPERATORS[DEMO_TENANT]}):",
        f"   1. Antrag         {portal}/antrag",
        f"                     Erika Mustermann, Lindenweg 4, 12345 Musterstadt, Zähler {DEMO_METER},",
        f"                     E-Mail {DEMO_EMAIL}",
        f"   2. Kopie          im Postfach {portal}/dev/mail/",
        f"   3. Brief          nach wenigen Sekunden unter {portal}/dev/letters/ (PDF)",
        f"                     mit Geschäftspartner-Nr. {DEMO_PARTNER} und QR-Link zum Portal",
        f"   4. Zugang         {portal}/zugang – Zähler, Geschäftspartner-Nr. und E-Mail von oben",
        "   5. Bestätigung    im Postfach die Mail „Bitte bestätigen Sie Ihre E-Mail-Adresse“, Link öffnen",
        f"   6. Passwort       setzen, z. B. „{DEMO_PASSWORD}“",
        f"   7. Anmelden       {portal}/anmelden",
        f"   8. Verbrauch      {portal}/verbrauch (simuliert, {DEMO_READINGS_DAYS} Tage bis gestern)",
        "   9. Benachrichtigungen  unten auf Verbrauch „Tagesverbrauch über …“ 1 kWh anlegen, dann",
        "                     .venv/bin/plusportal-stack demo-yesterday (sendet die Werte von gestern erneut):",
        "                     Postfach „Hoher Tagesverbrauch“ mit Link zum Ausschalten",
        "  10. Aktuelle Werte  oben auf Verbrauch „Aktuelle Werte abrufen“: der Simulator des",
        "                     Messstellenbetreibers antwortet in Sekunden, die Werte von heute",
        "                     erscheinen ohne Neuladen",
        "",
        f"  Partner wechseln: Max Solar, Zähler {DEMO_SOLAR_METER}, hat zwei Geschäftspartner-Nr.:",
        f"     {solar_first} (Bezug) und {solar_second} (Einspeisung). Zugang mit {solar_first} beantragen und",
        f"     Passwort setzen, dann mit {solar_second} und derselben E-Mail ({DEMO_SOLAR_EMAIL}) noch einmal",
        "     (Link bestätigen, Passwort eingeben) – nach dem Anmelden zwischen beiden wechseln.",
        "",
        f"  Postfach und Briefe verlinkt auch {portal}/entwicklung (nur in der Entwicklung).",
        "",
        "  APIs (Swagger UI):",
        *[f"     {label:<23}http://{DEMO_TENANT}.localhost:{port}/docs" for label, port in docs],
        "",
        f"  Back-Office {portal}/backoffice/anmelden (je Netzbetreiber eigene Zugänge, nur zum Ausprobieren):",
        f"     Passwort aller Demo-Zugänge: „{DEMO_STAFF_PASSWORD}“; Code aus einer Authenticator-App mit dem",
        "     Schlüssel unten (oder: .venv/bin/python -c \"import pyotp; print(pyotp.TOTP('<Schlüssel>').now())\")",
        *[f"     {m.tenant} {m.role:<6} {m.email:<34} Schlüssel {m.totp_secret}" for m in demo_staff(site.var)],
        "",
        f"  Mails    {shown(mail_store(site.var))}/*.eml",
        f"  Briefe   {shown(printed_dir(site.var))}/<Portalnummer>/*.pdf",
        f"  Logs     {shown(logs)}/<Dienst>.log ({names})",
        f"           Gateway: {shown(gateway.access_log)}",
        "",
        "  Strg+C beendet alles.",
        rule,
    ]
    return "\n".join(lines)
