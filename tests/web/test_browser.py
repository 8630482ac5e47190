"""The console in a real browser: Debian's headless Chromium, driven by Playwright,
against `opsledger serve` on loopback. Signing in and out with the keyboard only."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from tests.api import ENCRYPTION_KEY, JWT_SECRET, PASSWORD
from tests.databases import backends_required
from tests.e2e.cli import OPSLEDGER, clean_env, free_port, opsledger
from tests.e2e.test_up import wait_until_healthy

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """`opsledger serve` on a new SQLite database with one viewer, ``ada``."""
    settings = {
        "database_url": f"sqlite:///{tmp_path / 'console.db'}",
        "encryption_keys": ENCRYPTION_KEY,
        "jwt_secret": JWT_SECRET,
        "job_concurrency": "0",
    }
    assert opsledger("db", "upgrade", cwd=tmp_path, **settings).returncode == 0
    created = opsledger(
        "users", "create", "ada", "ada@example.com", "--password-stdin",
        cwd=tmp_path, stdin=PASSWORD, **settings,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    port = free_port()
    process = subprocess.Popen(
        [OPSLEDGER, "serve", "--port", str(port)],
        cwd=tmp_path,
        env=clean_env(**settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}/healthz", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(30)


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        message = "Debian's chromium is not installed (.ci/run installs it)"
        if backends_required():
            pytest.fail(message)
        pytest.skip(message)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield browser
        await browser.close()


async def test_sign_in_and_out_with_the_keyboard(server: str, chromium: Browser) -> None:
    page = await chromium.new_page()

    await page.goto(f"{server}/")
    assert page.url == f"{server}/login"
    assert await page.locator("h1").inner_text() == "Sign in"
    # The username field has focus; Tab and Enter do the rest.
    await page.keyboard.type("ada")
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{server}/")

    assert await page.locator("h1").inner_text() == "Overview"
    assert "ada (viewer)" in await page.locator("header").inner_text()
    cookies = {cookie["name"]: cookie for cookie in await page.context.cookies()}
    assert cookies["opsledger_session"]["httpOnly"] is True
    assert cookies["opsledger_session"]["sameSite"] == "Strict"

    await page.get_by_role("button", name="Sign out").focus()
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{server}/login")
    await page.goto(f"{server}/")
    assert page.url == f"{server}/login"
