from pathlib import Path

from pydantic import SecretStr

from kit.settings import ServiceSettings, in_repository, setting, weak_secret

# Without a key of its own (development, tests) TOTP secrets are sealed with this one; production refuses it.
DEVELOPMENT_STAFF_TOTP_KEY = "development only: staff TOTP secrets"


class IdentitySettings(ServiceSettings):
    database_url: str = "postgresql+asyncpg://plusportal@127.0.0.1:55432/identity"
    http_port: int = 8103
    # The platform's own sender of confirmation links (the operator's name is shown as display name).
    sender_email: str = "kundenservice@plusportal.de"
    # ES256 key that signs access tokens; created on first start when missing, never inside the repository.
    signing_key_file: Path = Path("var/identity/signing-key.pem")
    # Keys rotate (domain.KEY_SIGNS_FOR); later keys live in the folder signing-keys/ next to that file. The
    # schedule is checked this often (seconds): a revocation by the platform's CLI is honoured within it.
    signing_key_check_s: float = 5.0
    grant_expiry_check_s: float = 60.0  # GrantExpired within a minute of a grant's end
    # Signs the device cookies (OWASP device-cookie scheme); `make up` generates one per installation. Without
    # one (development only) each process draws its own: known browsers are then forgotten on restart.
    device_cookie_secret: SecretStr | None = None
    # Seals the staff's TOTP secrets in the database (staff_crypto.TotpSecrets); `make up` generates one.
    staff_totp_key: SecretStr | None = None
    # Cookies are Secure (required by the __Host- prefix); browsers accept them on http://*.localhost.
    limit_login_per_client: str = "30/minute"
    limit_requests_per_client: str = "20/minute"

    @property
    def totp_key(self) -> bytes:
        key = self.staff_totp_key
        return (key.get_secret_value() if key is not None else DEVELOPMENT_STAFF_TOTP_KEY).encode()

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if weak_secret(self.device_cookie_secret):
            problems.append(
                f"{setting('device_cookie_secret')} fehlt oder ist ein Entwicklungswert: mit ihm ließe sich ein "
                "„bekannter Browser“ fälschen. Zufällig erzeugen (mindestens 32 Zeichen), z. B. "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`."
            )
        if weak_secret(self.staff_totp_key):
            problems.append(
                f"{setting('staff_totp_key')} fehlt oder ist ein Entwicklungswert: die zweiten Faktoren der "
                "Mitarbeitenden lägen lesbar in der Datenbank. Zufällig erzeugen (mindestens 32 Zeichen)."
            )
        if in_repository(self.signing_key_file):
            problems.append(
                f"{setting('signing_key_file')} liegt im Quellcode-Verzeichnis ({self.signing_key_file}): der "
                "Signaturschlüssel gehört in ein eigenes, geschütztes Verzeichnis (z. B. /var/lib/plusportal)."
            )
        return problems
