"""stack.backup without servers: the manifest, the checks before a restore, the consumer groups it rewinds."""

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.identity import messaging as identity
from services.letters import messaging as letters
from services.meterdata import messaging as meterdata
from services.onboarding import messaging as onboarding
from stack import StackError
from stack.backup import MANIFEST, SERVICE_GROUPS, DumpedDatabase, Manifest, backup, restore

STARTED = datetime(2026, 12, 3, 13, 0, tzinfo=UTC)
UNREACHABLE = "postgresql+asyncpg://plusportal@127.0.0.1:9/postgres"


def test_the_rewound_groups_are_the_services_groups_and_not_the_print_houses() -> None:
    groups = {
        onboarding.GROUP,
        letters.GROUP,
        identity.GROUP,
        meterdata.GROUP,
        meterdata.INGEST_GROUP,
        meterdata.MSCONS_GROUP,
    }
    assert set(SERVICE_GROUPS) == groups
    assert not any(group.startswith("printhouse") for group in SERVICE_GROUPS)


def test_the_manifest_reads_back_what_was_written_and_names_the_rewind_point(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, b"dump")
    assert Manifest.read(tmp_path) == manifest
    assert manifest.rewind_point() == STARTED - timedelta(hours=1)
    assert manifest.rewind_point(timedelta(minutes=5)) == datetime(2026, 12, 3, 12, 55, tzinfo=UTC)


def test_a_restore_refuses_a_folder_without_manifest_and_a_damaged_dump(tmp_path: Path) -> None:
    with pytest.raises(StackError, match=r"manifest\.json fehlt"):
        restore(tmp_path, UNREACHABLE)
    _manifest(tmp_path, b"dump")
    (tmp_path / "letters.dump").write_bytes(b"dumb")  # one byte changed after the backup
    with pytest.raises(StackError, match="beschädigt"):
        restore(tmp_path, UNREACHABLE)
    (tmp_path / "letters.dump").unlink()
    with pytest.raises(StackError, match=r"letters\.dump fehlt"):
        restore(tmp_path, UNREACHABLE)


def test_a_backup_goes_into_a_new_or_empty_folder_only(tmp_path: Path) -> None:
    (tmp_path / "old.dump").write_bytes(b"earlier backup")
    with pytest.raises(StackError, match="nicht leer"):
        backup(tmp_path, UNREACHABLE, ("letters",))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["old.dump"]


def _manifest(folder: Path, content: bytes) -> Manifest:
    (folder / "letters.dump").write_bytes(content)
    database = DumpedDatabase("letters", "letters.dump", len(content), hashlib.sha256(content).hexdigest())
    manifest = Manifest(STARTED, STARTED + timedelta(seconds=3), "15.14", "pg_dump (PostgreSQL) 15.14", (database,))
    (folder / MANIFEST).write_text(manifest.to_json())
    return manifest
