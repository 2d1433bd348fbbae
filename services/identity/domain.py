"""Identity rules in plain Python: passwords, guessing back-off, token and session lifetimes, the
decision on an access request, and the mails' texts."""

import math
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from contracts.common import ROLE_LABELS, PartnerRole
from contracts.envelope import EventPayload
from contracts.identity import AccountDeleted, EmailConfirmed, PartnerLinked, PasswordChanged, SessionEnded
from services.identity.staff_domain import STAFF_TOKEN_VALID

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128
CONFIRMATION_VALID = timedelta(hours=24)
RESET_VALID = timedelta(hours=1)
SESSION_IDLE = timedelta(minutes=30)
SESSION_ABSOLUTE = timedelta(hours=12)
ACCESS_TOKEN_VALID = timedelta(minutes=5)
CLOCK_SKEW = timedelta(minutes=1)  # between identity's clock and the services' that verify its tokens
# Guessing a partner number into an account must not pay: invalid meter/partner pairs are counted per partner
# number, per meter (across every client and e-mail), per e-mail and per operator, over a moving day. Past a
# limit, requests are held: answered as always, but by no mail; a held meter or operator alerts the back-office.
# The letter's registration code admits its request all the same (the real customer gets through).
ACCESS_FAILURE_WINDOW = timedelta(hours=24)
FAILURES_PER_PARTNER = 5
FAILURES_PER_METER = 3  # the meter number is printed on the meter: the one an attacker knows
FAILURES_PER_EMAIL = 5
FAILURES_PER_TENANT = 200  # a guess spread over many meters: then only the letter's code is answered
# Mails anyone can make identity send by typing an address (links, notices): at most this many per recipient and
# day, so that requests in a loop do not flood a mailbox. What the account holder does (added partner number,
# changed password) is always told.
UNSOLICITED_MAILS = frozenset(
    {
        "access-confirmation",
        "access-already-registered",
        "access-not-possible",
        "access-owner-warning",
        "password-reset",
    }
)
UNSOLICITED_MAILS_PER_RECIPIENT = 5
UNSOLICITED_MAIL_WINDOW = timedelta(hours=24)
FREE_LOGIN_FAILURES = 5  # then each failure adds a minute of waiting, up to 15 (never a lock)
DEVICE_FAILURES_ALLOWED = 10  # wrong passwords from a known browser before its device cookie stops counting


def password_problem(password: str, email: str, common: Collection[str]) -> str | None:
    """What is wrong with a new password, in plain German — or None. No composition rules (NIST)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Das Passwort muss mindestens {MIN_PASSWORD_LENGTH} Zeichen lang sein."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Das Passwort darf höchstens {MAX_PASSWORD_LENGTH} Zeichen lang sein."
    folded = password.casefold()
    # A common word with a few digits or symbols around it, or repeated, is still a common password.
    core = re.sub(r"^[\d\W_]+|[\d\W_]+$", "", folded)
    words = common
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


def _repeats_common(core: str, words: Collection[str]) -> bool:
    for size in range(3, len(core) // 2 + 1):
        if len(core) % size == 0 and core[:size] * (len(core) // size) == core and core[:size] in words:
            return True
    return False


def login_wait(failures: int) -> timedelta:
    """How long a login for this account must wait after ``failures`` wrong passwords in a row."""
    if failures < FREE_LOGIN_FAILURES:
        return timedelta(0)
    return timedelta(minutes=min(failures - FREE_LOGIN_FAILURES + 1, 15))


@dataclass(frozen=True)
class AccessAttempt:
    """What an access request is counted by: its pair and its e-mail (as crypto.email_key, never the address)."""

    meter_number: str
    partner_number: str
    email_key: str


@dataclass(frozen=True)
class AccessFailures:
    """Invalid pairs within ACCESS_FAILURE_WINDOW that share something with the request at hand."""

    partner: int = 0
    meter: int = 0
    email: int = 0
    tenant: int = 0

    def plus_one(self) -> "AccessFailures":
        """The counts once the attempt at hand is recorded as a failure too."""
        return AccessFailures(self.partner + 1, self.meter + 1, self.email + 1, self.tenant + 1)

    def hold(self) -> "HoldScope | None":
        """Whether requests like this one are held, and for what (the meter or the whole operator)."""
        if self.tenant >= FAILURES_PER_TENANT:
            return HoldScope.OPERATOR
        if self.meter >= FAILURES_PER_METER:
            return HoldScope.METER
        if self.partner >= FAILURES_PER_PARTNER or self.email >= FAILURES_PER_EMAIL:
            return HoldScope.REQUEST
        return None


class HoldScope(StrEnum):
    REQUEST = "request"  # this partner number or e-mail: no alert (a customer mistyping several times)
    METER = "meter"  # guesses at one meter: the back-office is alerted
    OPERATOR = "operator"  # guesses spread over the operator's meters: the back-office is alerted


ALERTS_SHOWN = timedelta(days=7)  # how far back the back-office lists held meters


@dataclass(frozen=True)
class AccessAlert:
    """Requests for a meter (or the whole operator: meter_number "") are held because of guesses."""

    scope: HoldScope
    meter_number: str
    raised_at: datetime
    last_held_at: datetime
    held_requests: int  # requests since, answered by no mail

    def active(self, now: datetime) -> bool:
        return now - self.raised_at < ACCESS_FAILURE_WINDOW


def newly_held(before: AccessFailures, after: AccessFailures) -> HoldScope | None:
    """The alert one more invalid pair raises: when it makes a meter or the operator reach its limit."""
    scope = after.hold()
    return scope if scope in (HoldScope.METER, HoldScope.OPERATOR) and before.hold() != scope else None


class AccessOutcome(StrEnum):
    IGNORED = "ignored"  # held: too many invalid pairs for this partner number, meter, e-mail or operator lately
    INVALID_PAIR = "invalid_pair"
    NEW_LOGIN = "new_login"  # first partner number for this e-mail: confirm, then set a password
    ADD_PARTNER = "add_partner"  # e-mail has a login: confirm, then prove the password
    ALREADY_YOURS = "already_yours"
    SOMEONE_ELSES = "someone_elses"


def decide_access(
    *,
    pair_known: bool,
    failures: AccessFailures,
    with_letter_code: bool,
    owner_email: str | None,
    requester_has_login: bool,
    email: str,
) -> AccessOutcome:
    """``with_letter_code``: the request carries the valid, unused registration code of this pair's letter."""
    if not with_letter_code and failures.hold() is not None:
        return AccessOutcome.IGNORED
    if not pair_known:
        return AccessOutcome.INVALID_PAIR
    if owner_email is not None:
        return AccessOutcome.ALREADY_YOURS if owner_email == email else AccessOutcome.SOMEONE_ELSES
    return AccessOutcome.ADD_PARTNER if requester_has_login else AccessOutcome.NEW_LOGIN


def normalise_email(email: str) -> str:
    return email.strip().lower()


# --- the entities the rules act on -----------------------------------------------------------------------


@dataclass(frozen=True)
class PartnerLink:
    """A partner number that belongs to a login (at most one login per tenant and partner number)."""

    partner_number: str
    meter_number: str
    role: str
    linked_at: datetime


@dataclass
class Account:
    """One login per tenant and e-mail, with its partner numbers (oldest first). Records what happened to it
    in ``events``; the handlers publish them on the identity topic."""

    id: UUID
    tenant: str
    email: str
    password_hash: str
    created_at: datetime
    password_changed_at: datetime
    links: list[PartnerLink] = field(default_factory=list)
    events: list[EventPayload] = field(default_factory=list)

    @classmethod
    def confirmed(cls, account_id: UUID, tenant: str, email: str, password_hash: str, now: datetime) -> "Account":
        """The e-mail was confirmed with a link and a password set: the login exists from now on."""
        account = cls(account_id, tenant, email, password_hash, now, now)
        account.events.append(EmailConfirmed(account_id=str(account_id)))
        return account

    def link(self, partner_number: str, meter_number: str, role: str, now: datetime) -> PartnerLink:
        link = PartnerLink(partner_number, meter_number, role, now)
        self.links.append(link)
        self.events.append(
            PartnerLinked(
                account_id=str(self.id),
                meter_number=meter_number,
                partner_number=partner_number,
                role=PartnerRole(role),
            )
        )
        return link

    def link_of(self, partner_number: str) -> PartnerLink | None:
        return next((link for link in self.links if link.partner_number == partner_number), None)

    @property
    def only_link(self) -> PartnerLink | None:
        """The partner number a login acts as at once: its only one (with several, the customer chooses)."""
        return self.links[0] if len(self.links) == 1 else None

    def change_password(self, new_hash: str, reason: str, now: datetime) -> None:
        self.password_hash = new_hash
        self.password_changed_at = now
        self.events.append(PasswordChanged(account_id=str(self.id), reason=reason))

    def upgrade_hash(self, new_hash: str) -> None:
        """The same password with today's hashing parameters: nothing happened the customer must know of."""
        self.password_hash = new_hash

    def delete(self) -> None:
        self.events.append(
            AccountDeleted(account_id=str(self.id), partner_numbers=tuple(link.partner_number for link in self.links))
        )


class LinkPurpose(StrEnum):
    ACCESS = "access"  # confirm the e-mail and link a partner number
    RESET = "reset"  # set a new password


@dataclass(frozen=True)
class OneTimeLink:
    """A link from an e-mail; only the hash of its token is kept. Used once, within its validity."""

    token_hash: str
    tenant: str
    purpose: LinkPurpose
    email: str
    created_at: datetime
    expires_at: datetime
    account_id: UUID | None = None
    meter_number: str | None = None
    partner_number: str | None = None
    role: str | None = None

    @classmethod
    def for_access(
        cls,
        token_hash: str,
        tenant: str,
        email: str,
        account_id: UUID | None,
        meter_number: str,
        partner_number: str,
        role: str,
        now: datetime,
    ) -> "OneTimeLink":
        return cls(
            token_hash,
            tenant,
            LinkPurpose.ACCESS,
            email,
            now,
            now + CONFIRMATION_VALID,
            account_id,
            meter_number,
            partner_number,
            role,
        )

    @classmethod
    def for_reset(cls, token_hash: str, tenant: str, email: str, account_id: UUID, now: datetime) -> "OneTimeLink":
        return cls(token_hash, tenant, LinkPurpose.RESET, email, now, now + RESET_VALID, account_id)


@dataclass
class LoginThrottle:
    """Wrong passwords in a row for one e-mail (known or not, so both behave alike), and the wait they cause."""

    tenant: str
    email_key: str
    failures: int = 0
    wait_until: datetime | None = None

    def retry_after(self, now: datetime) -> int | None:
        """Seconds a login must still wait, or None."""
        if self.wait_until and self.wait_until > now:
            return math.ceil((self.wait_until - now).total_seconds())
        return None

    def failed(self, now: datetime) -> None:
        self.failures += 1
        wait = login_wait(self.failures)
        self.wait_until = now + wait if wait else None

    def reset(self) -> None:
        """The right password, or the owner proved access to the mailbox."""
        self.failures, self.wait_until = 0, None


@dataclass
class KnownDevice:
    """A browser with a genuine device cookie for the e-mail: its own wrong passwords count here, not on the
    e-mail's back-off, until it has made too many."""

    device_id: str
    failures: int = 0

    @property
    def trusted(self) -> bool:
        return self.failures < DEVICE_FAILURES_ALLOWED

    def failed(self) -> None:
        self.failures += 1

    def reset(self) -> None:
        self.failures = 0


@dataclass(frozen=True)
class BrowserSession:
    """A signed-in browser: the cookie's token is known only by its hash. Acts as at most one partner number."""

    id_hash: str
    tenant: str
    account_id: UUID
    partner_number: str | None
    role: str | None
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    user_agent: str | None

    def expired(self, now: datetime) -> bool:
        return now - self.last_seen_at > SESSION_IDLE or now - self.created_at > SESSION_ABSOLUTE

    @property
    def sid(self) -> str:
        """What its access tokens carry as ``sid`` (not the cookie's hash itself)."""
        return self.id_hash[:16]

    def ended(self, reason: str, now: datetime) -> SessionEnded:
        """The event that tells the services to refuse its access tokens before they expire."""
        return SessionEnded(sid=self.sid, reason=reason, tokens_valid_until=now + ACCESS_TOKEN_VALID + CLOCK_SKEW)


@dataclass(frozen=True)
class LiveSince:
    """What a session must have to be alive at a moment: seen since ``last_seen``, opened since ``created``."""

    last_seen: datetime
    created: datetime


def live_since(now: datetime) -> LiveSince:
    """The idle and absolute limits as bounds (the same rule as BrowserSession.expired, for a query)."""
    return LiveSince(now - SESSION_IDLE, now - SESSION_ABSOLUTE)


@dataclass(frozen=True)
class MailText:
    subject: str
    text: str
    unsubscribe_url: str | None = None  # one click in the mail program ends what the mail is about (RFC 8058)


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


signed_mail = _signed  # for the mails of other modules (alert_mails)


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
        f"Die Geschäftspartner-Nr. …{partner_number[-4:]} ({ROLE_LABELS[PartnerRole(role)]}) gehört jetzt zu Ihrem",
        "Zugang. Bei der Anmeldung wählen Sie, für welche Nummer Sie handeln. Waren Sie das nicht?",
        "Dann rufen Sie uns bitte sofort an.",
    ]
    return MailText("Geschäftspartner-Nr. hinzugefügt", _signed(operator, phone, lines))


# --- the signing keys' schedule ---------------------------------------------------------------------------
#
# Identity signs with one key at a time and replaces it on a schedule, with overlap: the next key is created and
# published KEY_PUBLISHED_AHEAD before it takes over (receivers know it before its first token arrives), and the
# key it replaces keeps verifying KEY_OUTLIVES_SIGNING after its last token was signed (until that token has
# expired). A revoked key verifies nothing any more; if it was the signing one, a new key takes over at once.

KEY_SIGNS_FOR = timedelta(days=30)
KEY_PUBLISHED_AHEAD = timedelta(days=1)
# Longer than any token identity signs lives (access and staff tokens: 5 minutes), plus a minute of clock skew.
KEY_OUTLIVES_SIGNING = max(ACCESS_TOKEN_VALID, STAFF_TOKEN_VALID) + CLOCK_SKEW


@dataclass
class SigningKey:
    """One of identity's signing keys as the schedule sees it (the private key stays in crypto.Keyring's folder).

    It signs tokens in [not_before, signs_until) and verifies them until expires_at (both published)."""

    kid: str
    not_before: datetime
    signs_until: datetime
    expires_at: datetime
    created_at: datetime
    revoked_at: datetime | None = None

    @classmethod
    def starting(cls, kid: str, not_before: datetime, now: datetime) -> "SigningKey":
        """A new key that takes over at ``not_before`` (now, or when the current key stops signing)."""
        signs_until = not_before + KEY_SIGNS_FOR
        return cls(kid, not_before, signs_until, signs_until + KEY_OUTLIVES_SIGNING, now)

    @classmethod
    def adopted(cls, kid: str, in_use_since: datetime, now: datetime) -> "SigningKey":
        """The key identity signed with before keys had a schedule: it keeps signing, at most its usual time
        (and long enough for its successor to be published ahead)."""
        not_before = min(in_use_since, now)
        signs_until = max(not_before + KEY_SIGNS_FOR, now + KEY_PUBLISHED_AHEAD)
        return cls(kid, not_before, signs_until, signs_until + KEY_OUTLIVES_SIGNING, now)

    def signs_at(self, moment: datetime) -> bool:
        return self.revoked_at is None and self.not_before <= moment < self.signs_until

    def live(self, moment: datetime) -> bool:
        """Published and verifying (or about to): not revoked, not expired."""
        return self.revoked_at is None and moment < self.expires_at

    def revoke(self, now: datetime) -> None:
        if self.revoked_at is None:
            self.revoked_at = now


def signing_key_at(keys: Collection[SigningKey], moment: datetime) -> SigningKey | None:
    """The key that signs at ``moment``: of those whose period holds it, the one that took over last."""
    signing = [key for key in keys if key.signs_at(moment)]
    return max(signing, key=lambda key: key.not_before) if signing else None


def next_key_starts(keys: Collection[SigningKey], now: datetime) -> datetime | None:
    """When the key to create now takes over — at once when none signs now (first start, the signing key
    revoked), or when the current one stops, once that is KEY_PUBLISHED_AHEAD away; None while no key is due."""
    current = signing_key_at(keys, now)
    if current is None:
        return now
    if any(key.live(now) and key.not_before > now for key in keys):
        return None  # the successor is published already
    if current.signs_until - now <= KEY_PUBLISHED_AHEAD:
        return current.signs_until
    return None
