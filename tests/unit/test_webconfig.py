"""The web UI's copies of deploy/tenants.toml and contracts.ROLE_LABELS: generated files up to date, and
the hand-written tenant colours of web/styles.css equal to each operator's primary_color."""

import json
import re
from pathlib import Path

from contracts.common import ROLE_LABELS, PartnerRole
from kit.tenants import DEFAULT_TENANTS_FILE, load_tenants
from stack import webconfig

STYLES = webconfig.WEB_DIR / "styles.css"
_TENANT_BLOCK = re.compile(r"body\.tenant-(\d{6})\s*\{([^}]*)\}")
_PRIMARY = re.compile(r"--primary:\s*(#[0-9a-fA-F]{6})\s*;")


def test_the_generated_web_files_are_up_to_date() -> None:
    outdated = [str(path) for path in webconfig.stale()]
    assert not outdated, "run `python -m stack.webconfig --write`; stale: " + ", ".join(outdated)


def test_a_changed_file_counts_as_stale(tmp_path: Path) -> None:
    edited, missing = tmp_path / "tenants.json", tmp_path / "roles.js"
    edited.write_text("{}\n", encoding="utf-8")
    assert webconfig.stale({edited: "{}\n", missing: "x"}) == [missing]
    assert webconfig.stale({edited: '{"000328": {}}\n'}) == [edited]


def test_every_role_has_a_label() -> None:
    assert set(ROLE_LABELS) == set(PartnerRole)
    assert ROLE_LABELS[PartnerRole.CONSUMPTION] == "Bezug (Verbrauch)"


def test_tenants_json_shows_only_public_fields_of_every_operator() -> None:
    shown = json.loads(webconfig.tenants_json(list(load_tenants(DEFAULT_TENANTS_FILE))))
    assert set(shown) == {tenant.portal_number for tenant in load_tenants(DEFAULT_TENANTS_FILE)}
    for entry in shown.values():
        assert tuple(entry) == webconfig.PUBLIC_TENANT_FIELDS
        assert "market_partner_id" not in entry and "sender_email" not in entry


def test_the_tenant_colours_of_the_stylesheet_are_the_operators_colours() -> None:
    blocks = {number: body for number, body in _TENANT_BLOCK.findall(STYLES.read_text(encoding="utf-8"))}
    tenants = {tenant.portal_number: tenant for tenant in load_tenants(DEFAULT_TENANTS_FILE)}
    assert set(blocks) == set(tenants), "one body.tenant-<portal number> block per operator in web/styles.css"
    for number, body in blocks.items():
        primary = _PRIMARY.search(body)
        assert primary, f"body.tenant-{number} has no --primary"
        assert primary.group(1).lower() == tenants[number].primary_color.lower(), number
