"""Identity rules in plain Python: passwords, guessing back-off, token and session lifetimes, the
decision on an access request, and the mails' texts."""

import gzip
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from pathlib import Path

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128
CONFIRMATION_VALID = timedelta(hours=24)
RESET_VALID = timedelta(hours=1)
SESSION_IDLE = timedelta(minutes=30)
SESSION_ABSOLUTE = timedelta(hours=12)
ACCESS_TOKEN_VALID = timedelta(minutes=5)
PARTNER_FAILURES_ALLOWED = 5  # invalid pairs per partner number and 24 h; then requests are ignored
PARTNER_FAILURE_WINDOW = timedelta(hours=24)
FREE_LOGIN_FAILURES = 5  # then each failure adds a minute of waiting, up to 15 (never a lock)
DEVICE_FAILURES_ALLOWED = 10  # wrong passwords from a known browser before its device cookie stops counting

_COMMON_PASSWORDS = Path(__file__).resolve().parent / "common-passwords.txt.gz"


@cache
def common_passwords() -> frozenset[str]:
    with gzip.open(_COMMON_PASSWORDS, "rt", encoding="utf-8") as file:
        return frozenset(line.strip() for line in file if line.strip())


def password_problem(password: str, email: str) -> str | None:
    """What is wrong with a new password, in plain German — or None. No composition rules (NIST)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Das Passwort muss mindestens {MIN_PASSWORD_LENGTH} Zeichen lang sein."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Das Passwort darf höchstens {MAX_PASSWORD_LENGTH} Zeichen lang sein."
    folded = password.casefold()
    # A common word with a few digits or symbols around it, or repeated, is still a common password.
    core = re.sub(r"^[\d\W_]+|[\d\W_]+$", "", folded)
    words = common_passwords()
    if (
        folded in words
        or core in words
        or _repeats_common(core, words)
        or len(set(folded)) <= 3
        or _keyboard_walk(core)
    ):
        return "Dieses Passwort ist zu verbreitet und leicht zu erraten. Bitte wählen Sie ein anderes."
    local = email.casefold().split("@")[0]
    parts = [part for part in re.split(r"[._+\-]", local) if len(part) >= 5]
    if (len(local) >= 4 and local in folded) or folded in email.casefold() or any(p in folded for p in parts):
        return "Das Passwort darf Ihre E-Mail-Adresse oder Teile davon nicht enthalten."
    return None


_KEYBOARD_ROWS = ("qwertzuiopüasdfghjklöäyxcvbnm", "qwertyuiopasdfghjklzxcvbnm", "1234567890ß")


def _keyboard_walk(core: str) -> bool:
    """A run along the keyboard ("qwertzuiopasdf", "1234567890") — however long, it is guessed first."""
    return len(core) >= 8 and any(core in row or core in row[::-1] for row in _KEYBOARD_ROWS)


def _repeats_common(core: str, words: frozenset[str]) -> bool:
    for size in range(3, len(core) // 2 + 1):
        if len(core) % size == 0 and core[:size] * (len(core) // size) == core and core[:size] in words:
            return True
    return False


def login_wait(failures: int) -> timedelta:
    """How long a login for this account must wait after ``failures`` wrong passwords in a row."""
    if failures < FREE_LOGIN_FAILURES:
        return timedelta(0)
    return timedelta(minutes=min(failures - FREE_LOGIN_FAILURES + 1, 15))


class AccessOutcome(StrEnum):
    IGNORED = "ignored"  # too many invalid pairs for this partner number lately
    INVALID_PAIR = "invalid_pair"
    NEW_LOGIN = "new_login"  # first partner number for this e-mail: confirm, then set a password
    ADD_PARTNER = "add_partner"  # e-mail has a login: confirm, then prove the password
    ALREADY_YOURS = "already_yours"
    SOMEONE_ELSES = "someone_elses"


def decide_access(
    *, pair_known: bool, recent_failures: int, owner_email: str | None, requester_has_login: bool, email: str
) -> AccessOutcome:
    if recent_failures >= PARTNER_FAILURES_ALLOWED:
        return AccessOutcome.IGNORED
    if not pair_known:
        return AccessOutcome.INVALID_PAIR
    if owner_email is not None:
        return AccessOutcome.ALREADY_YOURS if owner_email == email else AccessOutcome.SOMEONE_ELSES
    return AccessOutcome.ADD_PARTNER if requester_has_login else AccessOutcome.NEW_LOGIN


def normalise_email(email: str) -> str:
    return email.strip().lower()


@dataclass(frozen=True)
class SessionTimes:
    created_at: datetime
    last_seen_at: datetime

    def expired(self, now: datetime) -> bool:
        return now - self.last_seen_at > SESSION_IDLE or now - self.created_at > SESSION_ABSOLUTE


ROLE_NAMES = {"consumption": "Bezug (Verbrauch)", "feed_in": "Einspeisung"}


@dataclass(frozen=True)
class MailText:
    subject: str
    text: str


def _signed(operator: str, phone: str, lines: list[str]) -> str:
    return "\n".join(
        [
            "Guten Tag,",
            "",
            *lines,
            "",
            f"Fragen? Rufen Sie uns an: {phone}.",
            "",
            "Freundliche Grüße",
            f"Ihr Kundenportal von {operator}",
            "",
            "Diese E-Mail wurde automatisch erstellt. Bitte antworten Sie nicht darauf.",
        ]
    )


def confirmation_mail(operator: str, phone: str, link: str, partner_number: str, adding: bool) -> MailText:
    ending = partner_number[-4:]
    if adding:
        lines = [
            f"Sie möchten die Geschäftspartner-Nr. …{ending} zu Ihrem Zugang im Kundenportal hinzufügen.",
            "Bitte öffnen Sie diesen Link und bestätigen Sie es mit Ihrem Passwort:",
            "",
            link,
        ]
    else:
        lines = [
            f"Sie haben den Zugang zum Kundenportal für die Geschäftspartner-Nr. …{ending} beantragt.",
            "Bitte öffnen Sie diesen Link und vergeben Sie Ihr Passwort:",
            "",
            link,
        ]
    lines += [
        "",
        "Der Link gilt 24 Stunden und nur einmal. Sie haben nichts beantragt? Dann ignorieren Sie diese E-Mail.",
    ]
    return MailText("Bitte bestätigen Sie Ihre E-Mail-Adresse", _signed(operator, phone, lines))


def already_registered_mail(operator: str, phone: str, portal_url: str) -> MailText:
    lines = [
        "Sie haben erneut den Zugang zum Kundenportal beantragt. Ihr Zugang besteht bereits.",
        f"Melden Sie sich einfach an: {portal_url}/anmelden",
        f"Passwort vergessen? Hier setzen Sie es zurück: {portal_url}/passwort-vergessen",
    ]
    return MailText("Ihr Zugang zum Kundenportal besteht bereits", _signed(operator, phone, lines))


def not_possible_mail(operator: str, phone: str) -> MailText:
    lines = [
        "Sie haben den Zugang zum Kundenportal beantragt. Mit diesen Angaben können wir leider keinen",
        "Zugang einrichten. Bitte rufen Sie uns an, wir helfen Ihnen gern weiter.",
    ]
    return MailText("Ihr Antrag auf Zugang zum Kundenportal", _signed(operator, phone, lines))


def owner_warning_mail(operator: str, phone: str, partner_number: str) -> MailText:
    lines = [
        f"Jemand hat mit Ihrer Geschäftspartner-Nr. …{partner_number[-4:]} und einer anderen E-Mail-Adresse",
        "den Zugang zum Kundenportal beantragt. Ihr Zugang bleibt unverändert. Waren Sie das nicht?",
        "Dann rufen Sie uns bitte an.",
    ]
    return MailText("Hinweis zu Ihrem Zugang im Kundenportal", _signed(operator, phone, lines))


def reset_mail(operator: str, phone: str, link: str) -> MailText:
    lines = [
        "Sie möchten Ihr Passwort für das Kundenportal zurücksetzen. Bitte öffnen Sie diesen Link:",
        "",
        link,
        "",
        "Der Link gilt eine Stunde und nur einmal. Sie haben nichts angefordert? Dann ignorieren Sie diese E-Mail;",
        "Ihr Passwort bleibt unverändert.",
    ]
    return MailText("Passwort zurücksetzen", _signed(operator, phone, lines))


def password_changed_mail(operator: str, phone: str) -> MailText:
    lines = [
        "Ihr Passwort für das Kundenportal wurde soeben geändert. Alle Anmeldungen wurden beendet.",
        "Waren Sie das nicht? Dann rufen Sie uns bitte sofort an.",
    ]
    return MailText("Ihr Passwort wurde geändert", _signed(operator, phone, lines))


def partner_added_mail(operator: str, phone: str, partner_number: str, role: str) -> MailText:
    lines = [
        f"Die Geschäftspartner-Nr. …{partner_number[-4:]} ({ROLE_NAMES.get(role, role)}) gehört jetzt zu Ihrem",
        "Zugang. Bei der Anmeldung wählen Sie, für welche Nummer Sie handeln. Waren Sie das nicht?",
        "Dann rufen Sie uns bitte sofort an.",
    ]
    return MailText("Geschäftspartner-Nr. hinzugefügt", _signed(operator, phone, lines))
