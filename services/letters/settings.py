from kit.settings import ServiceSettings


class LettersSettings(ServiceSettings):
    database_url: str = "postgresql+asyncpg://plusportal@127.0.0.1:55432/letters"
    http_port: int = 8102
    # Where the letter's link points. Production: the operator's portal host; development:
    # "http://{portal_number}.localhost:8080" (the gateway).
    portal_url_template: str = "https://{portal_host}"
