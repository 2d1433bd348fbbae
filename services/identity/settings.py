from pathlib import Path

from kit.settings import ServiceSettings


class IdentitySettings(ServiceSettings):
    database_url: str = "postgresql+asyncpg://plusportal@127.0.0.1:55432/identity"
    http_port: int = 8103
    # The platform's own sender of confirmation links (the operator's name is shown as display name).
    sender_email: str = "kundenservice@plusportal.de"
    # ES256 key that signs access tokens; created on first start when missing (development).
    signing_key_file: Path = Path("var/identity/signing-key.pem")
    # Keys rotate (domain.KEY_SIGNS_FOR); later keys live in the folder signing-keys/ next to that file. The
    # schedule is checked this often (seconds): a revocation by the platform's CLI is honoured within it.
    signing_key_check_s: float = 5.0
    # Secret for the device cookies (OWASP device-cookie scheme); set it in production.
    device_cookie_secret: str = "dev-device-cookie-secret-change-me"
    # Cookies are Secure (required by the __Host- prefix); browsers accept them on http://*.localhost.
    limit_login_per_client: str = "30/minute"
    limit_requests_per_client: str = "20/minute"
