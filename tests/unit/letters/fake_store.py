"""Letters' store in memory (handlers.Letters), for unit tests of the use cases."""

from dataclasses import replace
from datetime import datetime
from uuid import UUID, uuid4

from contracts.letters import DispatchStatusReported
from services.letters.domain import (
    Letter,
    LetterStatus,
    LetterSummary,
    PostedLetter,
    StatusReport,
    TaskView,
    needs_render,
)


class FakeLetters:
    def __init__(self) -> None:
        self.letters: dict[UUID, Letter] = {}
        self.updated: dict[UUID, datetime] = {}
        self.pdfs: dict[UUID, bytes] = {}
        self.reports: dict[UUID, list[StatusReport]] = {}
        self.tasks: dict[UUID, tuple[str, TaskView, datetime | None]] = {}

    async def has_letter(self, tenant: str, request_id: UUID) -> bool:
        return any((x.tenant, x.request_id) == (tenant, request_id) for x in self.letters.values())

    async def for_change(self, tenant: str, letter_id: UUID) -> Letter | None:
        letter = self.letters.get(letter_id)
        return _copy(letter) if letter and letter.tenant == tenant else None

    async def awaiting_master_data(self, tenant: str, meter_number: str) -> list[Letter]:
        waiting = [
            _copy(x)
            for x in self.letters.values()
            if (x.tenant, x.meter_number, x.status) == (tenant, meter_number, LetterStatus.AWAITING_MASTER_DATA)
        ]
        return sorted(waiting, key=lambda x: x.created_at or datetime.min)

    async def posted_for_meter(self, tenant: str, meter_number: str, since: datetime) -> list[PostedLetter]:
        return [
            PostedLetter(x.reference, x.posted_at, x.status)
            for x in self.letters.values()
            if (x.tenant, x.meter_number) == (tenant, meter_number) and x.posted_at and x.posted_at >= since
        ]

    def add(self, letter: Letter, now: datetime) -> None:
        self.letters[letter.id] = _copy(replace(letter, created_at=now))
        self.updated[letter.id] = now

    def save(self, letter: Letter, now: datetime) -> None:
        if letter.pdf_deleted:
            self.pdfs.pop(letter.id, None)
        for task in letter.new_tasks:
            task_id = uuid4()
            self.tasks[task_id] = (letter.tenant, TaskView(task_id, letter.id, task.kind, task.reason, now), None)
        letter.new_tasks.clear()
        self.letters[letter.id] = _copy(replace(letter, created_at=self.letters[letter.id].created_at))
        self.updated[letter.id] = now

    def add_report(self, letter_id: UUID, report: DispatchStatusReported) -> None:
        entry = StatusReport(report.status, report.reason, report.reported_by, report.happened_at)
        self.reports.setdefault(letter_id, []).append(entry)

    async def summaries(self, tenant: str, status: LetterStatus | None, limit: int, offset: int) -> list[LetterSummary]:
        found = [self._summary(x) for x in self.letters.values() if x.tenant == tenant]
        found = [s for s in found if status is None or s.status == status]
        return sorted(found, key=lambda s: s.created_at, reverse=True)[offset : offset + limit]

    async def summary(self, tenant: str, letter_id: UUID) -> LetterSummary | None:
        letter = self.letters.get(letter_id)
        return self._summary(letter) if letter and letter.tenant == tenant else None

    async def reports_of(self, letter_id: UUID) -> list[StatusReport]:
        return list(self.reports.get(letter_id, []))

    async def open_tasks(self, tenant: str) -> list[TaskView]:
        return [task for owner, task, resolved in self.tasks.values() if owner == tenant and resolved is None]

    async def resolve_task(self, tenant: str, task_id: UUID, now: datetime) -> bool:
        entry = self.tasks.get(task_id)
        if entry is None or entry[0] != tenant:
            return False
        self.tasks[task_id] = (entry[0], entry[1], entry[2] or now)
        return True

    def _summary(self, letter: Letter) -> LetterSummary:
        assert letter.created_at is not None
        return LetterSummary(
            letter_id=letter.id,
            request_id=letter.request_id,
            reference=letter.reference,
            status=letter.status,
            status_reason=letter.status_reason,
            recipient=letter.recipient.model_dump(mode="json") if letter.recipient else None,
            pdf_available=letter.id in self.pdfs or needs_render(letter.status, letter.pdf_sha256),
            created_at=letter.created_at,
            updated_at=self.updated[letter.id],
        )


def _copy(letter: Letter) -> Letter:
    """What a database would give back: a new object, without the events already published."""
    return replace(letter, events=[], new_tasks=[])
