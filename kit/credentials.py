"""Per-operator credentials shared by two parties (letters and the print house): a JSON file
``{"<portal number>": "<secret>", …}``, generated per installation and never committed (`make up`: under var/)."""

import json
import secrets
from collections.abc import Iterable
from pathlib import Path


def read_per_tenant(path: Path | None) -> dict[str, str]:
    """The secrets by portal number; none when no file is configured (then every request is refused)."""
    if path is None or not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) and v for k, v in data.items()):
        raise ValueError(f"{path}: expected an object of portal number → secret")
    return dict(data)


def ensure_per_tenant(path: Path, tenants: Iterable[str]) -> dict[str, str]:
    """The file's secrets, with a new random one (256 bits) for each tenant that has none yet; mode 0600."""
    known = read_per_tenant(path)
    wanted = {tenant: known.get(tenant) or secrets.token_urlsafe(32) for tenant in tenants}
    if wanted != known:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        path.write_text(json.dumps({**known, **wanted}, indent=2), encoding="utf-8")
    return {**known, **wanted}
