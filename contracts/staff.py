"""Back-office staff: the audience of their access tokens and their roles (shared constants, no behaviour)."""

from enum import StrEnum

# Staff access tokens are signed by identity (issuer contracts.identity.ACCESS_TOKEN_ISSUER) for this audience only:
# a customer's token is never a staff token, nor the other way round.
STAFF_TOKEN_AUDIENCE = "plusportal-backoffice"


class StaffRole(StrEnum):
    """A staff member belongs to exactly one operator (tenant) and has one role there."""

    CLERK = "clerk"  # review, approve, reject requests; letters and returned letters
    ADMIN = "admin"  # everything a clerk does, plus the operator's staff and audit log


STAFF_ROLE_LABELS = {StaffRole.CLERK: "Sachbearbeitung", StaffRole.ADMIN: "Administration"}
