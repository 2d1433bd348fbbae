from pathlib import Path

from pydantic import SecretStr

from kit.settings import ServiceSettings, plain_http, setting, weak_secret

# Without a key of its own (development, unit tests) the codes are derived from this one; production refuses it.
DEVELOPMENT_REGISTRATION_CODE_KEY = "development only: letters' registration codes"


class LettersSettings(ServiceSettings):
    database_url: str = "postgresql+asyncpg://plusportal@127.0.0.1:55432/letters"
    http_port: int = 8102
    # This service's address as the print house reaches it: dispatch jobs name the PDF as
    # "{public_url}/print/{tenant}/jobs/{job_id}.pdf".
    public_url: str = "http://127.0.0.1:8102"
    # The print house's credentials, one per operator (kit.credentials: {"<portal number>": "<secret>"}); it sends
    # the one of the job's operator as Bearer token. No file: every PDF fetch is refused.
    printhouse_credentials_file: Path | None = None
    # Derives each letter's one-time registration codes (kit.registration); `make up` generates one per
    # installation. Kept secret: with it, anyone could make the code of any letter.
    registration_code_key: SecretStr | None = None
    # Rendering (CPU-bound, GIL-held) runs in worker processes of its own, so the consumer that
    # publishes dispatch jobs never waits for it. Background renders run niced: they take the CPU the
    # critical path leaves; a print-house fetch that finds no PDF yet renders at normal priority.
    render_processes: int = 1
    render_nice: int = 10
    # Switched off only in a test that shows jobs go out, and fetches get their PDF, without the worker.
    render_worker_enabled: bool = True

    @property
    def code_key(self) -> bytes:
        key = self.registration_code_key
        return (key.get_secret_value() if key is not None else DEVELOPMENT_REGISTRATION_CODE_KEY).encode()

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if weak_secret(self.registration_code_key):
            problems.append(
                f"{setting('registration_code_key')} fehlt oder ist zu kurz: mit dem Entwicklungsschlüssel ließe sich "
                "der Registrierungscode jedes Briefs berechnen. Zufällig erzeugen (mindestens 32 Zeichen)."
            )
        if self.printhouse_credentials_file is None or not self.printhouse_credentials_file.is_file():
            problems.append(
                f"{setting('printhouse_credentials_file')} fehlt: ohne die Zugangsdaten der Druckerei je Betreiber "
                "(kit.credentials) bekommt sie keinen Brief."
            )
        if plain_http(self.public_url):
            problems.append(
                f"{setting('public_url')} beginnt nicht mit https://: Briefe mit Anschrift und Partnernummer "
                "und das Kennwort der Druckerei gingen unverschlüsselt."
            )
        return problems
