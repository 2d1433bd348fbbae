"""Which letters still need rendering is one rule: the domain's, the store's query and the migration's
partial index must say the same, or the render worker's query stops using the index."""

import re
from pathlib import Path

from services.letters.domain import RENDERABLE, needs_render
from services.letters.store import TO_RENDER_SQL

MIGRATION = Path(__file__).resolve().parents[3] / "services/letters/migrations/0002_render_after_dispatch.py"


def test_the_store_query_of_letters_to_render_is_the_domain_rule() -> None:
    statuses = set(re.findall(r"'(\w+)'", TO_RENDER_SQL))
    assert statuses == {status.value for status in RENDERABLE}
    assert TO_RENDER_SQL.startswith("pdf_sha256 IS NULL AND status IN (")
    assert all(needs_render(status, None) for status in statuses)
    assert not any(needs_render(status, "ab" * 32) for status in statuses)


def test_the_partial_index_spells_the_store_query() -> None:
    assert f'postgresql_where=sa.text("{TO_RENDER_SQL}")' in MIGRATION.read_text()
