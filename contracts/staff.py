"""Back-office staff: the audience of their access tokens and their roles (shared constants, no behaviour)."""

from enum import StrEnum

# Staff access tokens are signed by identity (issuer contracts.identity.ACCESS_TOKEN_ISSUER) for this audience only:
# a customer's token is never a staff token, nor the other way round.
STAFF_TOKEN_AUDIENCE = "plusportal-backoffice"


# The platform's own back-office (the company that runs Plusportal for the operators) has this reserved portal
# number: its staff sign in at 000000.plusportal.de, and only there. No operator has it.
PLATFORM_PORTAL = "000000"


class StaffRole(StrEnum):
    """A staff member belongs to exactly one operator (tenant) and has one role there — or to the platform."""

    CLERK = "clerk"  # review, approve, reject requests; letters and returned letters
    ADMIN = "admin"  # everything a clerk does, plus the operator's staff and audit log
    PLATFORM = "platform"  # the platform operator: the operators (tenants) and their admins; no operator's data


STAFF_ROLE_LABELS = {
    StaffRole.CLERK: "Sachbearbeitung",
    StaffRole.ADMIN: "Administration",
    StaffRole.PLATFORM: "Plattformbetrieb",
}
# Which roles there are at an operator, and at the platform.
OPERATOR_ROLES = frozenset({StaffRole.CLERK, StaffRole.ADMIN})
PLATFORM_ROLES = frozenset({StaffRole.PLATFORM})
