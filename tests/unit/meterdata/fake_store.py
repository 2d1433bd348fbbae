"""Meter data's store in memory (handlers.Readings), for unit tests of the use cases."""

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from uuid import UUID

from contracts.consent import GrantRevoked
from contracts.identity import SessionEnded, SigningKeyPublished, SigningKeyRevoked
from kit.consumer import Delivered
from kit.months import month_of
from kit.validity import Relation
from services.meterdata.alerts import Alert, Occurrence, PeerGroup
from services.meterdata.domain import (
    DayTotal,
    GrantAccess,
    IntervalDay,
    MeterWindow,
    ReceivedInterchange,
    RegisterValue,
    StoredDay,
    total_of,
)
from tests.unit.meterdata.fake_value_requests import FakeValueRequests


class FakeReadings(FakeValueRequests):
    def __init__(self) -> None:
        super().__init__()
        self.days: dict[tuple[str, str, str, date], IntervalDay] = {}
        self.registers: dict[tuple[str, str, str, datetime], RegisterValue] = {}
        self.keys: list[Delivered[SigningKeyPublished]] = []
        self.revoked: list[Delivered[SigningKeyRevoked]] = []
        self.ended: list[Delivered[SessionEnded]] = []
        self.grants_revoked: list[Delivered[GrantRevoked]] = []
        self.accesses: list[GrantAccess] = []

        self.accounts_revoked: list[tuple[str, str, datetime]] = []  # personal tokens of deleted logins
        self.upserts = 0
        self.interchanges_received: dict[str, tuple[ReceivedInterchange, bytes]] = {}  # id → (interchange, file)
        self.partitions: dict[str, set[date]] = {"interval_days": set(), "register_readings": set()}
        self.alerts: dict[UUID, Alert] = {}
        self.occurrences: dict[tuple[UUID, date], Occurrence] = {}  # the unique key: alert and period
        self.postcodes: dict[tuple[str, str], str] = {}  # (tenant, meter) → connection postcode (master data)

    async def upsert_days(self, days: Sequence[IntervalDay]) -> None:
        self.upserts += 1
        for day in days:
            key = (day.tenant, day.meter_number, day.obis, day.day)
            known = self.days.get(key)
            if known is None or known.revision <= day.revision:
                self.days[key] = day

    async def add_register_readings(self, readings: Sequence[RegisterValue]) -> None:
        for r in readings:
            self.registers[(r.tenant, r.meter_number, r.obis, r.read_at)] = r

    async def last_register_before(self, tenant: str, meter: str, obis: str, moment: datetime) -> int | None:
        earlier = [
            r for (t, m, o, at), r in self.registers.items() if (t, m, o) == (tenant, meter, obis) and at < moment
        ]
        return max(earlier, key=lambda r: r.read_at).value_wh if earlier else None

    async def partition_months(self) -> dict[str, list[date]]:
        return {table: sorted(months) for table, months in self.partitions.items()}

    async def change_partitions(self, table: str, create: Sequence[date], drop: Sequence[date]) -> None:
        self.partitions[table] |= set(create)
        self.partitions[table] -= set(drop)
        gone = set(drop)
        if table == "interval_days":
            self.days = {key: day for key, day in self.days.items() if month_of(key[3]) not in gone}
        else:
            self.registers = {
                key: r for key, r in self.registers.items() if month_of(key[3].astimezone(UTC).date()) not in gone
            }

    async def record_signing_key(self, event: Delivered[SigningKeyPublished]) -> None:
        self.keys.append(event)

    async def record_key_revocation(self, event: Delivered[SigningKeyRevoked]) -> None:
        self.revoked.append(event)

    async def record_session_ended(self, event: Delivered[SessionEnded]) -> None:
        self.ended.append(event)

    async def record_grant_revoked(self, event: Delivered[GrantRevoked]) -> None:
        self.grants_revoked.append(event)

    async def add_grant_access(self, access: GrantAccess) -> None:
        self.accesses.append(access)

    async def grant_accesses(self, tenant: str, partner_number: str, limit: int) -> list[GrantAccess]:
        mine = [a for a in self.accesses if (a.tenant, a.partner_number) == (tenant, partner_number)]
        return sorted(mine, key=lambda a: a.at, reverse=True)[:limit]

    async def revoke_tokens_of_account(self, tenant: str, account_id: str, at: datetime) -> None:
        self.accounts_revoked.append((tenant, account_id, at))

    async def days_of(self, tenant: str, relations: Sequence[Relation], obis: str) -> list[StoredDay]:
        found: dict[date, StoredDay] = {}
        for (t, m, o, d), day in sorted(self.days.items()):
            if t == tenant and o == obis and any(r.meter_number == m and r.first <= d < r.end for r in relations):  # type: ignore[operator]
                before = found.get(d)
                values = day.values_wh
                if before is not None:
                    values = [
                        a if b is None else b if a is None else a + b
                        for a, b in zip(before.values_wh, values, strict=True)
                    ]
                found[d] = StoredDay(d, values, day.qualities)
        return [found[d] for d in sorted(found)]

    async def day_totals_of(self, tenant: str, relations: Sequence[Relation], obis: str) -> list[DayTotal]:
        if len({r.meter_number for r in relations}) != 1:
            raise ValueError("one meter only")
        return [total_of(day) for day in await self.days_of(tenant, relations, obis)]

    async def registers_of(
        self, tenant: str, windows: Sequence[MeterWindow], channels: Sequence[str]
    ) -> list[RegisterValue]:
        return sorted(
            (r for r in self.registers.values() if r.tenant == tenant and r.obis in channels and _inside(r, windows)),
            key=lambda r: r.read_at,
        )

    async def latest_registers(
        self, tenant: str, windows: Sequence[MeterWindow], channels: Sequence[str]
    ) -> list[RegisterValue]:
        latest: dict[tuple[str, str], RegisterValue] = {}
        for r in sorted(self.registers.values(), key=lambda r: r.read_at):
            if r.tenant == tenant and r.obis in channels and _inside(r, windows):
                latest[(r.meter_number, r.obis)] = r
        return list(latest.values())

    async def claim_interchange(self, received: ReceivedInterchange, data: bytes) -> bool:
        if any(
            (r.tenant, r.digest) == (received.tenant, received.digest) for r, _ in self.interchanges_received.values()
        ):
            return False
        self.interchanges_received[received.id] = (received, data)
        return True

    async def save_interchange(self, received: ReceivedInterchange) -> None:
        self.interchanges_received[received.id] = (received, self.interchanges_received[received.id][1])

    async def reference_used(self, tenant: str, sender: str, reference: str, other_than: str) -> bool:
        return any(
            (r.tenant, r.sender, r.reference) == (tenant, sender, reference) and r.id != other_than
            for r, _ in self.interchanges_received.values()
        )

    async def interchange_to_reprocess(
        self, tenant: str, interchange_id: str
    ) -> tuple[ReceivedInterchange, bytes] | None:
        found = self.interchanges_received.get(interchange_id)
        return found if found is not None and found[0].tenant == tenant else None

    async def interchanges(self, tenant: str, limit: int) -> list[ReceivedInterchange]:
        found = [r for r, _ in self.interchanges_received.values() if r.tenant == tenant]
        return sorted(found, key=lambda r: r.received_at, reverse=True)[:limit]

    async def add_alert(self, alert: Alert) -> None:
        self.alerts[alert.id] = alert

    async def alerts_of(self, tenant: str, partner_number: str, role: str) -> list[Alert]:
        return [
            a for a in self.alerts.values() if (a.tenant, a.partner_number, a.role) == (tenant, partner_number, role)
        ]

    async def alerts_on(self, tenant: str, meters: Sequence[str]) -> list[Alert]:
        return [a for a in self.alerts.values() if a.tenant == tenant and a.on]  # the store narrows by meter

    async def alert(self, tenant: str, alert_id: UUID) -> Alert | None:
        found = self.alerts.get(alert_id)
        return found if found is not None and found.tenant == tenant else None

    async def remove_alert(self, tenant: str, partner_number: str, role: str, alert_id: UUID) -> bool:
        found = self.alerts.get(alert_id)
        if found is None or (found.tenant, found.partner_number, found.role) != (tenant, partner_number, role):
            return False
        del self.alerts[alert_id]
        self.occurrences = {key: o for key, o in self.occurrences.items() if key[0] != alert_id}
        return True

    async def remove_alerts_of(self, tenant: str, partner_numbers: Sequence[str]) -> None:
        for alert in list(self.alerts.values()):
            if alert.tenant == tenant and alert.partner_number in partner_numbers:
                await self.remove_alert(tenant, alert.partner_number, alert.role, alert.id)

    async def switch_off(self, tenant: str, alert_id: UUID, now: datetime) -> None:
        found = await self.alert(tenant, alert_id)
        if found is not None and found.on:
            self.alerts[alert_id] = replace(found, off_at=now)

    async def record_occurrence(self, occurrence: Occurrence) -> bool:
        key = (occurrence.alert_id, occurrence.period)
        if key in self.occurrences:
            return False
        self.occurrences[key] = occurrence
        return True

    async def occurrences_of(self, tenant: str, partner_number: str, role: str, limit: int) -> list[Occurrence]:
        found = [
            o
            for o in self.occurrences.values()
            if (o.tenant, o.partner_number, o.role) == (tenant, partner_number, role)
        ]
        return sorted(found, key=lambda o: (o.raised_at, o.period), reverse=True)[:limit]

    async def last_day_with_data(self, tenant: str, relations: Sequence[Relation], obis: str) -> date | None:
        days = [s.day for s in await self.days_of(tenant, relations, obis) if any(v is not None for v in s.values_wh)]
        return max(days) if days else None

    async def peer_group(self, tenant: str, obis: str, day: date, area: str, leave_out: Sequence[str]) -> PeerGroup:
        sent = [
            d
            for (t, m, o, on), d in self.days.items()
            if (t, o, on) == (tenant, obis, day)
            and m not in leave_out
            and self.postcodes.get((t, m), "").startswith(area)
            and d.present > 0
        ]
        return PeerGroup(len(sent), sum(1 for d in sent if d.total_wh > 0))


def _inside(reading: RegisterValue, windows: Sequence[MeterWindow]) -> bool:
    return any(
        w.meter_number == reading.meter_number
        and (w.since is None or reading.read_at >= w.since)
        and (w.until is None or reading.read_at < w.until)
        for w in windows
    )
