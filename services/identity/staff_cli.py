"""The platform operator's tool for staff accounts (the platform role): it needs identity's database, which no
operator's staff can reach. It bootstraps an operator's first admin; from then on that admin manages the
operator's staff in the back-office (invite, disable, reset).

    plusportal-staff create-admin --tenant 000328 --email it@stadtwerke-musterstadt.de --name "Iris Admin"

prints a one-time set-up link (72 h): the admin opens it, sets a password and scans the TOTP secret shown there.

    plusportal-staff create-platform-admin --email betrieb@plusportal.de --name "Paul Plattform"

makes a platform operator: signed in at the platform's own back-office (000000.plusportal.de, API
``/staff/tenants``), they list the operators and invite an operator's admin — and see no operator's data.

    plusportal-staff register-third-party --tenant 000328 --name "Sonnenhaus Energiemanager GmbH" \
        --contact api@sonnenhaus.example --redirect-uri https://app.sonnenhaus.example/plusportal/callback

registers a third party (an energy service company) with one operator: it may then ask that operator's customers
for access to their data (OAuth 2.0 with PKCE, README "Daten für Dritte"). Prints the client id and, unless
``--public``, the client secret, once.

    plusportal-staff disable-third-party --tenant 000328 --client-id tp_…

stops a third party (misuse, end of contract): it asks nobody and gets no token any more, and every grant to it
ends at once (its tokens are refused within seconds everywhere).

    plusportal-staff revoke-key <kid>

revokes a signing key everywhere (a key that leaked): SigningKeyRevoked goes out on the keys topic for every
operator, and the services refuse tokens signed with it within a minute. If it was identity's signing key, a new
key takes over at once and the revoked key's private half is deleted; the running identity signs with the new
key within ``signing_key_check_s``. Customers signed in with the old key fetch a new token (the web client does
so by itself).
"""

import argparse
import asyncio
import re
from functools import partial
from urllib.parse import urlsplit
from uuid import UUID

from contracts.staff import PLATFORM_PORTAL, STAFF_ROLE_LABELS, StaffRole
from kit.db import Database, upgrade_database
from kit.settings import load_settings
from kit.tenants import TenantDirectory, load_tenants
from kit.uow import UnitsOfWork, system_clock
from services.identity import consent_handlers, crypto, handlers, staff_handlers
from services.identity.app import MIGRATIONS
from services.identity.consent_store import ConsentStore
from services.identity.handlers import Deps
from services.identity.settings import IdentitySettings
from services.identity.staff_crypto import TotpSecrets
from services.identity.staff_store import StaffStore
from services.identity.store import SigningKeyStore

KID = re.compile(r"[A-Za-z0-9_-]{43}")  # a SHA-256 thumbprint, base64url without padding


def _setting_up(settings: IdentitySettings) -> tuple[UnitsOfWork[StaffStore], TenantDirectory, Database]:
    upgrade_database(settings.database_url, MIGRATIONS)
    db = Database(settings.database_url, pool_size=1)
    operators = load_tenants(settings.tenants_file, settings.portal_url_template)
    tenants = operators.with_platform(settings.portal_url_template)  # the platform's staff too
    return UnitsOfWork(db, partial(StaffStore, totp=TotpSecrets(settings.totp_key))), tenants, db


async def create_admin(
    settings: IdentitySettings, tenant: str, email: str, name: str, role: StaffRole = StaffRole.ADMIN
) -> str:
    """The set-up link of a new admin of ``tenant`` (or, with PLATFORM_PORTAL and the platform role, of a platform
    operator)."""
    units, tenants, db = await asyncio.to_thread(_setting_up, settings)
    deps = Deps(
        settings, crypto.Keyring(settings.signing_key_file), crypto.DeviceCookies(settings.device_cookie_secret)
    )
    try:
        command = staff_handlers.InviteStaff(tenants.get(tenant), email.strip().lower(), name, role, False)
        async with units() as uow:
            invited = await staff_handlers.invite_staff(command, uow, deps=deps)
        return invited.setup_link
    finally:
        await db.engine.dispose()


async def create_ready(
    settings: IdentitySettings, tenant: str, email: str, name: str, role: StaffRole, password: str, totp_secret: str
) -> UUID:
    """A staff member ready to sign in (development demo and tests: password and TOTP secret are given)."""
    units, tenants, db = await asyncio.to_thread(_setting_up, settings)
    try:
        command = staff_handlers.CreateReadyStaff(tenants.get(tenant), email, name, role, password, totp_secret)
        async with units() as uow:
            return await staff_handlers.create_ready_staff(command, uow)
    finally:
        await db.engine.dispose()


async def register_third_party(
    settings: IdentitySettings, tenant: str, name: str, contact: str, redirect_uris: tuple[str, ...], public: bool
) -> consent_handlers.Registered:
    """A third party registered with ``tenant``: its client id and (confidential clients) secret."""
    await asyncio.to_thread(upgrade_database, settings.database_url, MIGRATIONS)
    db = Database(settings.database_url, pool_size=1)
    try:
        load_tenants(settings.tenants_file, settings.portal_url_template).get(tenant)
        command = consent_handlers.RegisterThirdParty(tenant, name, contact, redirect_uris, public)
        async with UnitsOfWork(db, ConsentStore)() as uow:
            return await consent_handlers.register_third_party(command, uow)
    finally:
        await db.engine.dispose()


async def disable_third_party(settings: IdentitySettings, tenant: str, client_id: str) -> int:
    """Stops the third party at ``tenant``: how many grants ended (LookupError: no such third party there)."""
    await asyncio.to_thread(upgrade_database, settings.database_url, MIGRATIONS)
    db = Database(settings.database_url, pool_size=1)
    try:
        async with UnitsOfWork(db, ConsentStore)() as uow:
            return await consent_handlers.disable_third_party(
                consent_handlers.DisableThirdParty(tenant, client_id), uow
            )
    finally:
        await db.engine.dispose()


async def revoke_key(settings: IdentitySettings, kid: str, reason: str = "compromised") -> handlers.RevokedKey:
    """Revokes the key ``kid`` for every operator (handlers.revoke_signing_key); its private half is deleted."""
    await asyncio.to_thread(upgrade_database, settings.database_url, MIGRATIONS)
    db = Database(settings.database_url, pool_size=1)
    tenants = load_tenants(settings.tenants_file, settings.portal_url_template)
    keyring = crypto.Keyring(settings.signing_key_file)
    try:
        command = handlers.RevokeSigningKey(tuple(tenants), kid, reason)
        async with UnitsOfWork(db, SigningKeyStore)() as uow:
            revoked = await handlers.revoke_signing_key(command, uow, keyring=keyring)
        keyring.use(revoked.schedule, system_clock())
        return revoked
    finally:
        await db.engine.dispose()


def _redirect_uri_allowed(uri: str) -> bool:
    """https, or http on the loopback (RFC 8252 §7.3: native apps and development); no fragment (RFC 6749 §3.1.2)."""
    parts = urlsplit(uri)
    loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
    return (
        bool(parts.netloc) and not parts.fragment and (parts.scheme == "https" or (parts.scheme == "http" and loopback))
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="plusportal-staff", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    admin = commands.add_parser("create-admin", help="the first admin of an operator: prints a one-time set-up link")
    admin.add_argument("--tenant", required=True, help="portal number, e.g. 000328")
    admin.add_argument("--email", required=True)
    admin.add_argument("--name", required=True)
    platform = commands.add_parser(
        "create-platform-admin", help="a platform operator (manages the operators and their admins): set-up link"
    )
    platform.add_argument("--email", required=True)
    platform.add_argument("--name", required=True)
    revoke = commands.add_parser("revoke-key", help="revoke a signing key everywhere (it leaked): by its kid")
    revoke.add_argument("kid", help="the key's kid (RFC 7638 thumbprint), as in /.well-known/jwks.json")
    revoke.add_argument("--reason", default="compromised")
    third = commands.add_parser(
        "register-third-party", help="a third party that may ask this operator's customers for their data (OAuth)"
    )
    third.add_argument("--tenant", required=True, help="portal number, e.g. 000328")
    third.add_argument("--name", required=True, help="shown to customers on the consent page")
    third.add_argument("--contact", required=True, help="an e-mail address or URL customers can reach")
    third.add_argument("--redirect-uri", required=True, action="append", help="exact; repeat for several")
    third.add_argument("--public", action="store_true", help="an app without a secret (PKCE alone)")
    disable = commands.add_parser("disable-third-party", help="stop a third party: no tokens, its grants end")
    disable.add_argument("--tenant", required=True, help="portal number, e.g. 000328")
    disable.add_argument("--client-id", required=True)
    args = parser.parse_args(argv)
    settings = load_settings(IdentitySettings)
    if args.command == "disable-third-party":
        try:
            ended = asyncio.run(disable_third_party(settings, args.tenant, args.client_id))
        except LookupError:
            raise SystemExit(f"Bei {args.tenant} ist kein Drittanbieter {args.client_id} registriert.") from None
        print(f"Drittanbieter {args.client_id} bei {args.tenant} gesperrt; {ended} Freigabe(n) beendet.")
        return
    if args.command == "register-third-party":
        bad = [uri for uri in args.redirect_uri if not _redirect_uri_allowed(uri)]
        if bad:
            raise SystemExit(f"Weiterleitungsadressen müssen https:// sein (http nur für localhost): {', '.join(bad)}")
        registered = asyncio.run(
            register_third_party(settings, args.tenant, args.name, args.contact, tuple(args.redirect_uri), args.public)
        )
        print(f"Drittanbieter „{args.name}“ für {args.tenant} registriert.")
        print(f"client_id: {registered.client_id}")
        if registered.client_secret:
            print(f"client_secret (nur jetzt sichtbar): {registered.client_secret}")
        return
    if args.command == "revoke-key":
        if not KID.fullmatch(args.kid):
            raise SystemExit("Das ist kein Schlüssel-Kennzeichen (kid): 43 Zeichen aus A–Z, a–z, 0–9, - und _.")
        done = asyncio.run(revoke_key(settings, args.kid, args.reason))
        print(f"Schlüssel {args.kid} widerrufen (für alle Netzbetreiber veröffentlicht).")
        if not done.own:
            print("Hinweis: Es ist keiner der Schlüssel von identity; nur der Widerruf wurde veröffentlicht.")
        if done.replaced_by:
            print(f"Neuer Signaturschlüssel: {done.replaced_by}")
        return
    tenant, role = (
        (PLATFORM_PORTAL, StaffRole.PLATFORM)
        if args.command == "create-platform-admin"
        else (
            args.tenant,
            StaffRole.ADMIN,
        )
    )
    try:
        link = asyncio.run(create_admin(settings, tenant, args.email, args.name, role))
    except staff_handlers.StaffRefused as refusal:
        raise SystemExit(str(refusal)) from None
    print(f"{STAFF_ROLE_LABELS[role]} für {tenant} angelegt: {args.email}")
    print(f"Einrichtungslink (72 Stunden, einmal): {link}")
    print("Dort vergibt sie/er das Passwort und richtet die Authenticator-App ein (TOTP).")


if __name__ == "__main__":
    main()
