"""Back-office staff in plain Python: an operator's staff member (e-mail, password, TOTP second factor,
recovery codes, one role at exactly one operator), the set-up by a one-time link, and the mails' texts.

Sessions, CSRF, password rules and the login back-off are the customers' (services.identity.domain): staff reuse
BrowserSession (account_id = the staff member's id, in a table of their own), password_problem and LoginThrottle
(keyed apart from customers' e-mails, see staff_throttle_key).
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from contracts.staff import OPERATOR_ROLES, PLATFORM_PORTAL, PLATFORM_ROLES, STAFF_ROLE_LABELS, StaffRole

SETUP_VALID = timedelta(hours=72)
STAFF_TOKEN_VALID = timedelta(minutes=5)
RECOVERY_CODES = 10
TOTP_ISSUER = "Plusportal Back-Office"


class StaffStatus(StrEnum):
    SETTING_UP = "setting_up"  # invited or reset: waits for the set-up link (password + authenticator)
    ACTIVE = "active"
    DISABLED = "disabled"


class StaffRefused(Exception):
    """A rule of staff management says no; the message says why and what to do, in German."""


def roles_at(portal_number: str) -> frozenset[StaffRole]:
    """An operator's staff are clerks and admins; the platform's are platform operators, and nothing else."""
    return PLATFORM_ROLES if portal_number == PLATFORM_PORTAL else OPERATOR_ROLES


def staff_throttle_key(email: str) -> str:
    """The login back-off's key material of a staff e-mail: never the same as a customer's e-mail."""
    return f"staff:{email}"


@dataclass
class StaffMember:
    id: UUID
    tenant: str
    email: str
    name: str
    role: StaffRole
    status: StaffStatus
    totp_secret: str
    created_at: datetime
    password_hash: str | None = None
    totp_last_step: int | None = None  # the last time step used: a code is accepted once (RFC 6238 §5.2)
    recovery_hashes: list[str] = field(default_factory=list)
    setup_hash: str | None = None
    setup_expires_at: datetime | None = None

    @classmethod
    def invited(
        cls,
        staff_id: UUID,
        tenant: str,
        email: str,
        name: str,
        role: StaffRole,
        totp_secret: str,
        setup_hash: str,
        now: datetime,
    ) -> "StaffMember":
        if role not in roles_at(tenant):
            raise StaffRefused(
                "Diese Rolle gibt es hier nicht: Netzbetreiber haben Sachbearbeitung und Administration."
            )
        member = cls(staff_id, tenant, email, name, role, StaffStatus.SETTING_UP, totp_secret, now)
        member.setup_hash, member.setup_expires_at = setup_hash, now + SETUP_VALID
        return member

    def setup_open(self, now: datetime) -> bool:
        return (
            self.status == StaffStatus.SETTING_UP and self.setup_expires_at is not None and now < self.setup_expires_at
        )

    def complete_setup(self, password_hash: str, recovery_hashes: list[str], step: int) -> None:
        self.password_hash = password_hash
        self.recovery_hashes = recovery_hashes
        self.totp_last_step = step
        self.status = StaffStatus.ACTIVE
        self.setup_hash = self.setup_expires_at = None

    @property
    def can_sign_in(self) -> bool:
        return self.status == StaffStatus.ACTIVE and self.password_hash is not None

    def accept_step(self, step: int | None) -> bool:
        """A TOTP code of this time step: only once, and never one older than the last used."""
        if step is None or (self.totp_last_step is not None and step <= self.totp_last_step):
            return False
        self.totp_last_step = step
        return True

    def use_recovery_code(self, code_hash: str) -> bool:
        if code_hash not in self.recovery_hashes:
            return False
        self.recovery_hashes.remove(code_hash)
        return True

    def reset(self, totp_secret: str, setup_hash: str, now: datetime) -> None:
        """Password and second factor are set up anew by link (lost phone, forgotten password)."""
        self.status = StaffStatus.SETTING_UP
        self.password_hash = None
        self.totp_secret, self.totp_last_step, self.recovery_hashes = totp_secret, None, []
        self.setup_hash, self.setup_expires_at = setup_hash, now + SETUP_VALID

    def disable(self) -> None:
        self.status = StaffStatus.DISABLED
        self.setup_hash = self.setup_expires_at = None


def check_manageable(admin_id: UUID, member: StaffMember) -> None:
    if member.id == admin_id:
        raise StaffRefused(
            "Ihren eigenen Zugang können Sie nicht sperren oder zurücksetzen. Bitte bitten Sie eine andere "
            "Administratorin oder einen anderen Administrator."
        )


@dataclass(frozen=True)
class MailText:
    subject: str
    text: str


def setup_mail(operator: str, name: str, role: StaffRole, link: str, again: bool) -> MailText:
    first = (
        "Ihr Zugang zum Back-Office wurde zurückgesetzt."
        if again
        else f"für Sie wurde ein Zugang zum Back-Office angelegt ({STAFF_ROLE_LABELS[role]})."
    )
    text = "\n".join(
        [
            f"Guten Tag {name},",
            "",
            f"{first} Bitte öffnen Sie diesen Link, vergeben Sie ein Passwort und richten Sie",
            "Ihre Authenticator-App ein (zweiter Faktor):",
            "",
            link,
            "",
            "Der Link gilt 72 Stunden und nur einmal. Haben Sie das nicht erwartet? Dann wenden Sie sich bitte an",
            "Ihre Administration.",
            "",
            f"Back-Office von {operator}",
        ]
    )
    return MailText("Ihr Zugang zum Back-Office", text)
