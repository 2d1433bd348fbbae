from kit.settings import ServiceSettings


class OnboardingSettings(ServiceSettings):
    database_url: str = "postgresql+asyncpg://plusportal@127.0.0.1:55432/onboarding"
    http_port: int = 8101
    # Abuse limits for the public form (moving windows, see the `limits` package's notation).
    limit_per_client: str = "20/hour"
    limit_per_email: str = "5/day"
