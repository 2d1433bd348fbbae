from pathlib import Path

from pydantic import SecretStr

from kit.settings import ServiceSettings, in_repository, setting, weak_secret


class IdentitySettings(ServiceSettings):
    database_url: str = "postgresql+asyncpg://plusportal@127.0.0.1:55432/identity"
    http_port: int = 8103
    # The platform's own sender of confirmation links (the operator's name is shown as display name).
    sender_email: str = "kundenservice@plusportal.de"
    # ES256 key that signs access tokens; created on first start when missing, never inside the repository.
    signing_key_file: Path = Path("var/identity/signing-key.pem")
    # Signs the device cookies (OWASP device-cookie scheme); `make up` generates one per installation. Without
    # one (development only) each process draws its own: known browsers are then forgotten on restart.
    device_cookie_secret: SecretStr | None = None
    # Cookies are Secure (required by the __Host- prefix); browsers accept them on http://*.localhost.
    limit_login_per_client: str = "30/minute"
    limit_requests_per_client: str = "20/minute"

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if weak_secret(self.device_cookie_secret):
            problems.append(
                f"{setting('device_cookie_secret')} fehlt oder ist ein Entwicklungswert: mit ihm ließe sich ein "
                "„bekannter Browser“ fälschen. Zufällig erzeugen (mindestens 32 Zeichen), z. B. "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`."
            )
        if in_repository(self.signing_key_file):
            problems.append(
                f"{setting('signing_key_file')} liegt im Quellcode-Verzeichnis ({self.signing_key_file}): der "
                "Signaturschlüssel gehört in ein eigenes, geschütztes Verzeichnis (z. B. /var/lib/plusportal)."
            )
        return problems
