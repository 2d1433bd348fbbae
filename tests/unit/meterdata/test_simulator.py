"""The SMGW simulator: realistic, deterministic values; DST days; registers that match the intervals; the CLI's
outputs (files, and Kafka through a fake producer)."""

import itertools
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from statistics import mean
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import pytest

from backoffice import smgw_simulator
from backoffice.smgw_simulator import generate_days, generate_registers, malo_for, write_mscons
from contracts.envelope import Envelope
from contracts.meterdata import LoadProfileDay, Quality, RegisterReadings
from contracts.topics import METER_MSCONS, METER_READINGS
from kit.identifiers import is_valid_malo
from services.meterdata.mscons import parse_mscons

BERLIN = ZoneInfo("Europe/Berlin")
METER = "1EMH0005939068"


def local_hours(day: LoadProfileDay) -> list[float]:
    start = datetime(day.day.year, day.day.month, day.day.day, tzinfo=BERLIN).astimezone(UTC)
    moments = [(start + timedelta(minutes=15 * i)).astimezone(BERLIN) for i in range(len(day.values))]
    return [m.hour + m.minute / 60 for m in moments]


def values_between(days: list[LoadProfileDay], first: float, last: float) -> list[float]:
    return [
        v for d in days for h, v in zip(local_hours(d), d.values, strict=True) if first <= h < last and v is not None
    ]


def test_the_same_seed_gives_the_same_values_another_seed_others() -> None:
    first = generate_days(METER, "both", date(2026, 5, 1), 3, seed=5)
    assert first == generate_days(METER, "both", date(2026, 5, 1), 3, seed=5)
    assert first != generate_days(METER, "both", date(2026, 5, 1), 3, seed=6)
    assert generate_registers(METER, "both", date(2026, 5, 1), 3, seed=5) == generate_registers(
        METER, "both", date(2026, 5, 1), 3, seed=5
    )


def test_daylight_saving_days_have_92_and_100_quarter_hours() -> None:
    lengths = {d.day: len(d.values) for d in generate_days(METER, "consumption", date(2026, 3, 28), 3)}
    assert lengths == {date(2026, 3, 28): 96, date(2026, 3, 29): 92, date(2026, 3, 30): 96}
    lengths = {d.day: len(d.values) for d in generate_days(METER, "feed_in", date(2026, 10, 25), 1)}
    assert lengths == {date(2026, 10, 25): 100}


def test_a_household_uses_about_3000_kwh_a_year_with_a_night_base_load_and_an_evening_peak() -> None:
    days = generate_days(METER, "consumption", date(2026, 1, 1), 365, seed=2)
    assert {d.obis for d in days} == {"1-1:1.29.0"}
    total = sum(v for d in days for v in d.values if v is not None)
    assert 2_600 < total < 3_400
    night, evening = values_between(days, 1, 4), values_between(days, 18, 21)
    assert mean(night) * 2 < mean(evening)
    winter = sum(v for d in days[:31] for v in d.values if v is not None)
    summer = sum(v for d in days[181:212] for v in d.values if v is not None)  # July
    assert winter > summer


def test_pv_feeds_in_nothing_at_night_and_more_in_summer_than_in_winter() -> None:
    days = generate_days(METER, "feed_in", date(2026, 1, 1), 365, seed=2)
    assert {d.obis for d in days} == {"1-1:2.29.0"}
    assert set(values_between(days, 0, 4)) == {0.0}
    assert set(values_between(days, 22, 24)) == {0.0}
    june_noon = values_between([d for d in days if d.day.month == 6], 12, 14)
    assert min(june_noon) > 0
    december = sum(v for d in days if d.day.month == 12 for v in d.values if v is not None)
    june = sum(v for d in days if d.day.month == 6 for v in d.values if v is not None)
    assert june > 3 * december


def test_a_prosumer_either_draws_or_feeds_in_within_a_quarter_hour() -> None:
    days = generate_days(METER, "both", date(2026, 6, 1), 7, seed=4)
    by_day: dict[date, dict[str, LoadProfileDay]] = {}
    for d in days:
        by_day.setdefault(d.day, {})[d.obis] = d
    for channels in by_day.values():
        drawn, fed = channels["1-1:1.29.0"].values, channels["1-1:2.29.0"].values
        assert not any(a and b for a, b in zip(drawn, fed, strict=True))
    assert values_between([c["1-1:2.29.0"] for c in by_day.values()], 12, 14)


def test_some_substitute_values_and_gaps_with_their_status() -> None:
    days = generate_days(METER, "consumption", date(2026, 1, 1), 365, seed=1)
    flat = [
        (v, q, (d.status or (None,) * len(d.values))[i])
        for d in days
        for i, (v, q) in enumerate(zip(d.values, d.qualities, strict=True))
    ]
    substitutes = [item for item in flat if item[1] == Quality.SUBSTITUTE]
    gaps = [item for item in flat if item[1] == Quality.MISSING]
    assert 0 < len(substitutes) < 0.01 * len(flat) and 0 < len(gaps) < 0.01 * len(flat)
    assert all(v is not None and s == "Z32:Z92" for v, _, s in substitutes)
    assert all(v is None and s == "Z40:Z75" for v, _, s in gaps)
    assert all(v is not None for v, q, _ in flat if q == Quality.TRUE_VALUE)


@pytest.mark.parametrize("role", ["consumption", "feed_in", "both"])
def test_register_readings_never_run_backwards_and_match_the_interval_sums(role: str) -> None:
    first, count = date(2026, 3, 1), 60
    days = generate_days(METER, role, first, count, seed=9)  # type: ignore[arg-type]
    registers = generate_registers(METER, role, first, count, seed=9)  # type: ignore[arg-type]
    expected = {"consumption": ["1-1:1.8.0"], "feed_in": ["1-1:2.8.0"], "both": ["1-1:1.8.0", "1-1:2.8.0"]}[role]
    assert [r.obis for r in registers] == expected
    for register in registers:
        readings = register.readings
        assert len(readings) == count + 1
        assert readings[0].read_at == datetime(2026, 2, 28, 23, tzinfo=UTC)  # 00:00 Europe/Berlin
        assert all(r.read_at.minute % 15 == 0 and r.read_at.second == 0 for r in readings)
        assert all(b.value >= a.value for a, b in itertools.pairwise(readings))
        interval = register.obis.replace(".8.0", ".29.0")
        clean = 0
        for day, (before, after) in zip(
            [d for d in days if d.obis == interval], itertools.pairwise(readings), strict=True
        ):
            if set(day.qualities) == {Quality.TRUE_VALUE}:
                assert after.value - before.value == pytest.approx(sum(v or 0 for v in day.values), abs=1e-6)
                clean += 1
        assert clean > count // 2


def test_write_mscons_escapes_and_counts_right() -> None:
    days = generate_days(METER, "both", date(2026, 10, 25), 1, seed=1)
    data = write_mscons(
        days,
        sender_mp_id="9900000000003",
        receiver_mp_id="9900000000010",
        malo_id="41373559241",
        created_at=datetime(2026, 10, 26, 5, tzinfo=UTC),
    ).decode()
    assert data.startswith("UNA:+.? '\nUNB+UNOC:3+9900000000003:500+9900000000010:500+261026:0500+")
    assert "UNH+1+MSCONS:D:04B:UN:2.4c'" in data and "RFF+Z13:13025'" in data
    assert "PIA+5+1-1?:1.29.0:SRW'" in data and "PIA+5+1-1?:2.29.0:SRW'" in data
    assert "LOC+172+41373559241'" in data
    assert "DTM+163:202610242200?+00:303'" in data and "DTM+164:202610252300?+00:303'" in data
    assert data.count("UNH+") == 1  # one message per location and day, both channels in it
    parsed = parse_mscons(data.encode(), meter_for_location={"41373559241": METER}.get)
    assert parsed.warnings == [] and [len(d.values) for d in parsed.days] == [100, 100]


def test_the_made_up_malo_is_valid() -> None:
    assert is_valid_malo(malo_for(METER))
    assert is_valid_malo(malo_for("1ESY1161052714"))


# ------------------------------------------------------------------------------------------ CLI


def test_json_lines_to_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    smgw_simulator.main(
        [
            "--tenant",
            "000328",
            "--meter",
            "1emh 0005939068",
            "--role",
            "both",
            "--from",
            "2026-03-29",
            "--days",
            "2",
            "--format",
            "json",
            "--out",
            str(tmp_path),
        ]
    )
    (path,) = tmp_path.glob("*.jsonl")
    envelopes = [Envelope.model_validate(json.loads(line)) for line in path.read_text().splitlines()]
    kinds = [e.event_type for e in envelopes]
    assert kinds == ["LoadProfileDay"] * 4 + ["RegisterReadings"] * 2
    assert {e.tenant for e in envelopes} == {"000328"} and len({e.correlation_id for e in envelopes}) == 1
    first = LoadProfileDay.model_validate(envelopes[0].payload)
    assert (first.meter_number, first.day, len(first.values)) == (METER, date(2026, 3, 29), 92)
    assert len(RegisterReadings.model_validate(envelopes[-1].payload).readings) == 3
    assert "6 messages with 382 readings" in capsys.readouterr().out  # 4 × 94 values + 2 × 3 registers


def test_mscons_files_to_a_directory(tmp_path: Path) -> None:
    smgw_simulator.main(
        [
            "--tenant",
            "000328",
            "--meter",
            METER,
            "--role",
            "consumption",
            "--from",
            "2026-10-24",
            "--days",
            "2",
            "--format",
            "mscons",
            "--out",
            str(tmp_path),
            "--malo",
            "41373559241",
        ]
    )
    files = sorted(tmp_path.glob("*.edi"))
    assert [f.name for f in files] == [f"MSCONS_{METER}_20261024.edi", f"MSCONS_{METER}_20261025.edi"]
    parsed = parse_mscons(files[1].read_bytes(), meter_for_location={"41373559241": METER}.get)
    assert [(d.day, len(d.values)) for d in parsed.days] == [(date(2026, 10, 25), 100)]


def test_each_mscons_file_has_a_reference_of_its_own() -> None:
    """Files of different meters for the same day are created at the same time: the interchange control reference
    (UNB 0020) still differs, or meter data would reject all but the first as duplicates."""
    sender, receiver = "9900000000003", "9900123000002"
    files = [
        data
        for meter in (METER, "1ESY1161052714")
        for _, data in smgw_simulator._mscons_files(
            generate_days(meter, "consumption", date(2026, 10, 24), 2), malo_id=malo_for(meter), sender=sender,
            receiver=receiver,
        )
    ]  # fmt: skip
    references = [parse_mscons(data).messages[0].interchange for data in files]
    assert len(set(references)) == 4 and all(len(r) <= 14 for r in references)


class FakeProducer:
    sent: ClassVar[list[tuple[str, bytes, bytes | None, Any]]] = []
    flushed: ClassVar[bool] = False

    def __init__(self, **config: Any) -> None:
        self.config = config

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def send(self, topic: str, value: bytes, key: bytes | None = None, headers: Any = None) -> Any:
        import asyncio

        FakeProducer.sent.append((topic, value, key, headers))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    async def flush(self) -> None:
        FakeProducer.flushed = True


@pytest.mark.parametrize("fmt", ["json", "mscons"])
def test_publishing_to_kafka_sends_without_waiting_and_flushes(fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    FakeProducer.sent, FakeProducer.flushed = [], False
    monkeypatch.setattr(smgw_simulator, "AIOKafkaProducer", FakeProducer)
    smgw_simulator.main(
        [
            "--tenant",
            "000328",
            "--meter",
            METER,
            "--role",
            "feed_in",
            "--from",
            "2026-06-01",
            "--days",
            "2",
            "--format",
            fmt,
            "--kafka",
            "kafka:9092",
        ]
    )
    assert FakeProducer.flushed
    if fmt == "json":
        assert {(t, k) for t, _, k, _ in FakeProducer.sent} == {(METER_READINGS.name, f"000328/{METER}".encode())}
        assert len(FakeProducer.sent) == 3  # two days, one register series
    else:
        assert [(t, k, h) for t, _, k, h in FakeProducer.sent] == [
            (METER_MSCONS.name, f"MSCONS_{METER}_2026060{n}.edi".encode(), [("tenant", b"000328")]) for n in (1, 2)
        ]
        assert FakeProducer.sent[0][1].startswith(b"UNA:+.? '")
