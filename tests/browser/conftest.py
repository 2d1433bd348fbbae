"""Playwright driving Debian's Chromium headless (a browser download does not work here), with an axe-core
check and a screenshot of every page the tests visit."""

import os
import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page, async_playwright

from stack.paths import REPO_ROOT

CHROMIUM = os.environ.get("PLUSPORTAL_CHROMIUM", "/usr/bin/chromium")
# What this machine's closed network needs: no background calls home (see the env notes).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def screenshots() -> Path:
    folder = Path(
        os.environ.get(
            "PLUSPORTAL_SCREENSHOTS", REPO_ROOT / "var" / "screenshots" / datetime.now().strftime("%Y%m%d-%H%M%S")
        )
    )
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nScreenshots: {folder}")
    return folder


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        await launched.close()


class Visit:
    """Screenshots and checks each page with axe-core: no serious or critical violation."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder, self.name, self.count = folder, name, 0

    async def check(self, page: Page, label: str) -> None:
        await page.wait_for_selector("h1")
        self.count += 1
        slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
        await page.screenshot(path=str(self.folder / f"{self.name}-{self.count:02d}-{slug}.png"), full_page=True)
        results = await Axe().run(page)
        bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
        assert not bad, f"{label}: " + "; ".join(f"{v['id']}: {v['help']}" for v in bad)


@pytest.fixture
def visit(screenshots: Path, request: pytest.FixtureRequest) -> Visit:
    return Visit(screenshots, request.node.name.removeprefix("test_")[:40])
