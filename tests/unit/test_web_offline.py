"""The offline app shell (web/sw.js): every module a listed page imports is stored at install, so a signed-in
customer's pages open without a network; and each operator has a manifest the portal links."""

import json
import re
from pathlib import Path

from kit.tenants import load_tenants
from stack.webconfig import MANIFESTS_DIR, WEB_DIR

SW = (WEB_DIR / "sw.js").read_text(encoding="utf-8")
_IMPORT = re.compile(r'^import [^;]*? from "([^"]+)";', re.MULTILINE)


def shell() -> set[str]:
    listed = re.search(r"const SHELL = \[(.*?)\];", SW, re.DOTALL)
    assert listed, "web/sw.js lists no SHELL"
    return set(re.findall(r'"([^"]+)"', listed.group(1)))


def imports_of(path: Path) -> set[Path]:
    return {(path.parent / found).resolve() for found in _IMPORT.findall(path.read_text(encoding="utf-8"))}


def test_every_module_the_shell_imports_is_stored_at_install() -> None:
    stored = {(WEB_DIR / name.lstrip("/")).resolve() for name in shell() if name != "/"}
    assert all(path.is_file() for path in stored), sorted(str(p) for p in stored if not p.is_file())
    missing = {
        f"{imported.relative_to(WEB_DIR)} (imported by {module.relative_to(WEB_DIR)})"
        for module in stored
        if module.suffix == ".js"
        for imported in imports_of(module)
        if imported not in stored
    }
    assert not missing, f"add to SHELL in web/sw.js: {sorted(missing)}"


def test_the_shell_holds_the_pages_of_a_signed_in_customer() -> None:
    assert {"/", "/app.js", "/styles.css", "/pages/verbrauch.js", "/pages/anmelden.js"} <= shell()


def test_each_operator_has_an_installable_manifest() -> None:
    for tenant in load_tenants():
        manifest = json.loads((MANIFESTS_DIR / f"{tenant.portal_number}.webmanifest").read_text(encoding="utf-8"))
        assert manifest["name"] == f"{tenant.short_name} Kundenportal"
        assert (manifest["start_url"], manifest["display"], manifest["theme_color"]) == (
            "/",
            "standalone",
            tenant.primary_color,
        )
        assert all((WEB_DIR / icon["src"].lstrip("/")).is_file() for icon in manifest["icons"])
