from pathlib import Path

from kit.settings import ServiceSettings, plain_http, setting


class LettersSettings(ServiceSettings):
    database_url: str = "postgresql+asyncpg://plusportal@127.0.0.1:55432/letters"
    http_port: int = 8102
    # This service's address as the print house reaches it: dispatch jobs name the PDF as
    # "{public_url}/print/{tenant}/jobs/{job_id}.pdf".
    public_url: str = "http://127.0.0.1:8102"
    # The print house's credentials, one per operator (kit.credentials: {"<portal number>": "<secret>"}); it sends
    # the one of the job's operator as Bearer token. No file: every PDF fetch is refused.
    printhouse_credentials_file: Path | None = None
    # Rendering (CPU-bound, GIL-held) runs in worker processes of its own, so the consumer that
    # publishes dispatch jobs never waits for it. Background renders run niced: they take the CPU the
    # critical path leaves; a print-house fetch that finds no PDF yet renders at normal priority.
    render_processes: int = 1
    render_nice: int = 10
    # Switched off only in a test that shows jobs go out, and fetches get their PDF, without the worker.
    render_worker_enabled: bool = True

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
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
