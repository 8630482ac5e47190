"""The console in a real browser: Debian's headless Chromium, driven by Playwright,
against `opsledger serve` on loopback. Signing in and out with the keyboard only; every
page checked by axe-core and at a phone's width."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
import zipfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.api import ENCRYPTION_KEY, JWT_SECRET, PASSWORD
from tests.databases import backends_required
from tests.e2e.cli import OPSLEDGER, clean_env, free_port, opsledger, wait_until_healthy
from tests.factories import unique
from tests.sshd import SshServer

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = os.environ.get("OPSLEDGER_SCREENSHOTS")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# One server for the module, on one xdist worker: starting it (a migration, two users
# with real password hashes, the server) costs far more than any test here.
pytestmark = pytest.mark.xdist_group("console")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`opsledger serve` (running jobs itself) on a new SQLite database with a viewer,
    ``ada``, and an admin, ``grace``."""
    tmp_path = tmp_path_factory.mktemp("console")
    settings = {
        "database_url": f"sqlite:///{tmp_path / 'console.db'}",
        "encryption_keys": ENCRYPTION_KEY,
        "jwt_secret": JWT_SECRET,
        "playbook_root": str(tmp_path / "playbooks"),
        "job_work_dir": str(tmp_path / "jobs"),
        "job_heartbeat_seconds": "1",
    }
    assert opsledger("db", "upgrade", cwd=tmp_path, **settings).returncode == 0
    for name, role in (("ada", "viewer"), ("grace", "admin")):
        created = opsledger(
            "users", "create", name, f"{name}@example.com", "--role", role, "--password-stdin",
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


WATCHED = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: first
      debug:
        msg: first-output
    - name: pause on the host
      command: sleep 3
    - name: second
      debug:
        msg: second-output
"""
SLEEPS = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: sleep for a long time
      command: sleep 3613
"""

FAILS = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: fail on purpose
      fail:
        msg: broken on purpose
"""


@contextmanager
def admin_api(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{server}/api/v1", timeout=30) as api:
        login = api.post("/auth/login", json={"username": "grace", "password": PASSWORD})
        api.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        yield api


def prepare_target(server: str, ssh: SshServer) -> dict[str, int]:
    """Through the API, as the admin: playbooks and the loopback sshd as a host."""
    with admin_api(server) as api:
        ids = {}
        for name, content in (("watched", WATCHED), ("sleeps", SLEEPS), ("fails", FAILS)):
            made = api.post("/playbooks", json={"name": name, "content": content})
            assert made.status_code == 201, made.text
            ids[name] = made.json()["id"]
        host = api.post(
            "/hosts",
            json={"hostname": "target.test", "ip_address": "127.0.0.1", "os_type": "linux",
                  "ssh_port": ssh.port, "ssh_user": ssh.user},
        )  # fmt: skip
        assert host.status_code == 201, host.text
        ids["host"] = host.json()["id"]
        key = {"type": "ssh_key", "username": ssh.user, "value": ssh.private_key}
        assert api.post(f"/hosts/{ids['host']}/credentials", json=key).status_code == 201
    return ids


@pytest.fixture(scope="module")
async def target(server: str, ssh: SshServer) -> dict[str, int]:
    """The playbooks and the loopback sshd's host, registered on the served instance."""
    return await asyncio.to_thread(prepare_target, server, ssh)


@pytest.fixture
async def admin_page(server: str, chromium: Browser) -> Page:
    page = await chromium.new_page()
    await sign_in(page, server, "grace")
    return page


async def sign_in(page: Page, server: str, username: str) -> None:
    await page.goto(f"{server}/login")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{server}/")


async def launch(page: Page, server: str, playbook: int, host: int) -> None:
    await page.goto(f"{server}/jobs/new")
    await page.get_by_label("Playbook").select_option(str(playbook))
    await page.get_by_label("Host").select_option(str(host))
    await page.get_by_role("button", name="Launch").click()
    await page.wait_for_url(re.compile(rf"{server}/jobs/\d+$"))


async def test_a_launched_job_shows_its_output_live_until_it_ends(
    server: str, target: dict[str, int], admin_page: Page
) -> None:
    ids, page = target, admin_page

    await launch(page, server, ids["watched"], ids["host"])
    output = page.locator("#output")
    await output.get_by_text("first-output").first.wait_for(timeout=60_000)
    # The first task's output is on the page while the job still runs.
    assert await page.locator("body").get_attribute("data-job-ended") is None
    assert "second-output" not in await output.inner_text()
    await page.wait_for_selector("body[data-job-ended]", timeout=60_000)

    assert await page.locator("body").get_attribute("data-job-ended") == "success"
    text = await output.inner_text()
    assert "second-output" in text
    assert "PLAY RECAP" in text
    assert await page.locator("#status").inner_text() == "success"
    assert await page.locator("#cancel").count() == 0
    if SCREENSHOTS:  # OPSLEDGER_SCREENSHOTS=docs pytest tests/web: the README's pictures
        await page.screenshot(path=Path(SCREENSHOTS) / "job-output.png", full_page=True)
        await page.goto(f"{server}/")
        await page.screenshot(path=Path(SCREENSHOTS) / "overview.png", full_page=True)


async def test_cancelling_from_the_page_stops_the_job(
    server: str, target: dict[str, int], admin_page: Page
) -> None:
    ids, page = target, admin_page

    await launch(page, server, ids["sleeps"], ids["host"])
    await (
        page.locator("#output").get_by_text("TASK [sleep for a long time]").wait_for(timeout=60_000)
    )
    await page.get_by_role("button", name="Cancel job").click()
    await page.wait_for_selector("body[data-job-ended]", timeout=60_000)

    assert await page.locator("body").get_attribute("data-job-ended") == "cancelled"
    assert await page.locator("#status").inner_text() == "cancelled"


async def test_a_failed_jobs_ticket_moves_on_from_the_page(
    server: str, target: dict[str, int], admin_page: Page
) -> None:
    ids, page = target, admin_page
    await launch(page, server, ids["fails"], ids["host"])
    await page.wait_for_selector("body[data-job-ended]", timeout=60_000)
    assert await page.locator("body").get_attribute("data-job-ended") == "failed"

    await page.get_by_role("link", name="Tickets").click()
    move = page.get_by_role("button", name=re.compile(r"Move ticket \d+ to in_progress"))
    await move.click()
    await page.wait_for_url(f"{server}/tickets")

    row = page.locator("tbody tr").first
    assert "in_progress" in await row.inner_text()
    assert "fails on target.test" in await row.inner_text()


async def test_a_viewer_gets_no_write_buttons_and_forged_posts_are_refused(
    server: str, chromium: Browser, target: dict[str, int]
) -> None:
    ids = target

    def start_sleeping_job() -> int:
        with admin_api(server) as api:
            body = {"playbook_id": ids["sleeps"], "host_id": ids["host"]}
            job_id: int = api.post("/jobs", json=body).json()["id"]
            return job_id

    job = await asyncio.to_thread(start_sleeping_job)
    page = await chromium.new_page()
    await sign_in(page, server, "ada")

    await page.goto(f"{server}/jobs/{job}")
    assert await page.get_by_role("button", name="Cancel job").count() == 0
    await page.goto(f"{server}/jobs")
    assert await page.get_by_role("link", name="Launch a job").count() == 0
    post = """async ([url, token]) => (await fetch(url, {method: "POST",
        body: new URLSearchParams(token === null ? {} : {csrf_token: token})})).status"""
    token = await page.locator("input[name=csrf_token]").first.get_attribute("value")
    # The viewer's own valid token does not make a cancel allowed; no token refuses a form.
    assert await page.evaluate(post, [f"/jobs/{job}/cancel", token]) == 403
    assert await page.evaluate(post, ["/logout", None]) == 403
    await page.goto(f"{server}/jobs/{job}")
    assert await page.locator("#status").inner_text() in ("pending", "running")

    with admin_api(server) as api:  # leave nothing running
        api.post(f"/jobs/{job}/cancel")


FLEET = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: say the version
      debug:
        msg: "version {{ version }} with {{ token }}"
    - name: break on the bad host
      fail:
        msg: broken on purpose
      when: inventory_hostname is search('bad')
    - name: wait a moment
      command: sleep 2
"""
FLEET_PROMPTS = """\
- name: version
  type: text
  required: true
  pattern: "[0-9]+\\\\.[0-9]+"
- name: token
  type: secret
  required: true
"""
TOKEN = "browser-secret-4c2e"


def prepare_fleet(server: str, ssh: SshServer) -> dict[str, Any]:
    """Through the API, as the admin: the fleet playbook and three hosts on the loopback
    sshd, tagged alike; the one named bad-… fails its second task."""
    tag = unique("site")
    with admin_api(server) as api:
        made = api.post("/playbooks", json={"name": unique("fleet"), "content": FLEET})
        assert made.status_code == 201, made.text
        hostnames = [unique(name) + ".test" for name in ("good", "fine", "bad")]
        for hostname in hostnames:
            host = api.post(
                "/hosts",
                json={"hostname": hostname, "ip_address": "127.0.0.1", "os_type": "linux",
                      "ssh_port": ssh.port, "ssh_user": ssh.user, "tags": {"site": tag}},
            )  # fmt: skip
            assert host.status_code == 201, host.text
            key = {"type": "ssh_key", "username": ssh.user, "value": ssh.private_key}
            added = api.post(f"/hosts/{host.json()['id']}/credentials", json=key)
            assert added.status_code == 201
    return {"playbook": made.json()["name"], "tag": tag, "hostnames": hostnames}


async def test_a_template_made_in_the_console_runs_on_a_fleet_and_relaunches_its_failure(
    server: str, ssh: SshServer, admin_page: Page
) -> None:
    fleet, page = await asyncio.to_thread(prepare_fleet, server, ssh), admin_page
    good, fine, bad = fleet["hostnames"]

    await page.goto(f"{server}/templates")
    await page.get_by_role("link", name="New template").click()
    name = unique("patch")
    await page.get_by_label("Name", exact=True).fill(name)
    await page.get_by_label("Playbook").select_option(label=fleet["playbook"])
    await page.get_by_label("Tags").fill(f"site={fleet['tag']}")
    await page.get_by_label("Prompts (YAML list)").fill(FLEET_PROMPTS)
    if SCREENSHOTS:
        await page.screenshot(path=Path(SCREENSHOTS) / "template-form.png", full_page=True)
    await page.get_by_role("button", name="Create template").click()
    await page.wait_for_url(re.compile(rf"{server}/templates/\d+$"))
    assert "3 match now" in await page.locator("#launch").inner_text()

    # A refused value is shown beside its prompt; the secret is never filled in again.
    await page.get_by_label("version (required)").fill("one")
    await page.get_by_label("token (required)").fill(TOKEN)
    await page.get_by_role("button", name="Launch").click()
    await page.locator("#prompt-version-error").wait_for()
    assert "must match" in await page.locator("#prompt-version-error").inner_text()
    assert await page.get_by_label("token (required)").input_value() == ""
    if SCREENSHOTS:
        await page.screenshot(path=Path(SCREENSHOTS) / "template-launch.png", full_page=True)
    await page.get_by_label("version (required)").fill("1.2")
    await page.get_by_label("token (required)").fill(TOKEN)
    await page.get_by_role("button", name="Launch").click()
    await page.wait_for_url(re.compile(rf"{server}/runs/\d+$"))

    hosts = page.locator("#hosts")
    await page.locator("#matrix td[data-task='say the version']").first.wait_for(timeout=90_000)
    await page.wait_for_selector("body[data-run-ended]", timeout=120_000)
    assert await page.locator("body").get_attribute("data-run-ended") == "failed"
    for hostname, result in ((good, "success"), (fine, "success"), (bad, "failed")):
        row = hosts.locator(f"tr[data-host='{hostname}']")
        assert await row.get_attribute("data-result") == result
    failed_cell = page.locator(
        f"#matrix tr[data-host='{bad}'] td[data-task='break on the bad host']"
    )
    assert await failed_cell.inner_text() == "failed"
    skipped = page.locator(f"#matrix tr[data-host='{good}'] td[data-task='break on the bad host']")
    assert await skipped.inner_text() == "skipped"

    await hosts.locator(f"tr[data-host='{good}']").get_by_role("button", name="Show output").click()
    output = page.locator("#output")
    await page.wait_for_selector("#output[data-ended]", timeout=30_000)
    text = await output.inner_text()
    assert "version 1.2 with ********" in text
    assert TOKEN not in text
    assert good in text
    assert bad not in text  # one host's output, not the batch's
    if SCREENSHOTS:
        await page.screenshot(path=Path(SCREENSHOTS) / "run.png", full_page=True)

    await page.get_by_role("button", name="Relaunch failed hosts").click()
    await page.wait_for_url(re.compile(rf"{server}/runs/\d+$"))
    assert "Relaunch of" in await page.locator("main").inner_text()
    await page.wait_for_selector("body[data-run-ended]", timeout=120_000)
    assert await page.locator("#hosts tbody tr").count() == 1
    assert await page.locator(f"#hosts tr[data-host='{bad}']").count() == 1


async def test_cancelling_a_run_from_its_page_stops_every_host(
    server: str, ssh: SshServer, admin_page: Page
) -> None:
    fleet, page = await asyncio.to_thread(prepare_fleet, server, ssh), admin_page

    def sleeping_template() -> int:
        with admin_api(server) as api:
            playbook = api.post("/playbooks", json={"name": unique("sleeps"), "content": SLEEPS})
            body = {"name": unique("sleepy"), "playbook_id": playbook.json()["id"],
                    "selector": {"tags": [f"site={fleet['tag']}"]}, "forks": 3}  # fmt: skip
            made = api.post("/job-templates", json=body)
            assert made.status_code == 201, made.text
            return int(made.json()["id"])

    template = await asyncio.to_thread(sleeping_template)
    await page.goto(f"{server}/templates/{template}")
    await page.get_by_role("button", name="Launch").click()
    await page.wait_for_url(re.compile(rf"{server}/runs/\d+$"))
    await page.locator("#hosts tr[data-result='running']").first.wait_for(timeout=60_000)
    await page.get_by_role("button", name="Cancel run").click()
    await page.wait_for_selector("body[data-run-ended]", timeout=60_000)

    assert await page.locator("body").get_attribute("data-run-ended") == "cancelled"
    results = await page.locator("#hosts tbody tr").evaluate_all(
        "rows => rows.map(row => row.dataset.result)"
    )
    assert results == ["cancelled"] * 3


async def test_a_new_site_runs_its_first_playbook_without_leaving_the_console(
    server: str, ssh: SshServer, admin_page: Page
) -> None:
    """What a new user could not do without curl: add the host, its key and a playbook
    in the browser, then run the playbook on the host."""
    page, hostname, playbook = admin_page, f"{unique('first')}.test", unique("hello")

    await page.goto(f"{server}/hosts")
    await page.get_by_role("link", name="Add a host").click()
    await page.get_by_label("Host name").fill(hostname)
    await page.get_by_label("Address (IPv4 or IPv6)").fill("127.0.0.1")
    await page.get_by_label("Operating system").fill("linux")
    await page.get_by_label("SSH port").fill(str(ssh.port))
    await page.get_by_label("SSH user").fill(ssh.user)
    await page.get_by_role("button", name="Add host").click()
    await page.wait_for_url(re.compile(rf"{server}/hosts/\d+$"))
    host_id = page.url.rsplit("/", 1)[1]

    await page.get_by_label("User", exact=True).fill(ssh.user)
    await page.get_by_label("Value (a private key, a password or a token)").fill(ssh.private_key)
    await page.get_by_role("button", name="Add credential").click()
    await page.wait_for_url(re.compile(rf"{server}/hosts/{host_id}"))
    credentials = await page.locator("#credentials").inner_text()
    assert "ssh_key" in credentials
    assert "PRIVATE KEY" not in await page.content()

    await page.goto(f"{server}/playbooks/new")
    await page.get_by_label("Name", exact=True).fill(playbook)
    await page.get_by_label("Or its YAML, pasted").fill(WATCHED)
    await page.get_by_role("button", name="Register playbook").click()
    await page.wait_for_url(re.compile(rf"{server}/playbooks/\d+$"))
    assert "matches the registered content" in await page.locator("main").inner_text()
    playbook_id = page.url.rsplit("/", 1)[1]

    await launch(page, server, int(playbook_id), int(host_id))
    await page.wait_for_selector("body[data-job-ended]", timeout=90_000)
    assert await page.locator("body").get_attribute("data-job-ended") == "success"
    assert "second-output" in await page.locator("#output").inner_text()


AXE_DIR = Path(__file__).parent / "axe"
AXE = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP, PHONE = {"width": 1280, "height": 800}, {"width": 390, "height": 844}
# What is not a console page: the API, its interactive docs (Swagger UI's own), files.
NOT_PAGES = re.compile(r"^/(api|docs|openapi\.json|static|metrics|healthz|readyz)\b|/log$")
VIOLATIONS = """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
    .filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", ")}`)"""
# How far the page is wider than the screen, and the outermost elements that stick out.
OVERFLOW = """() => {
    const width = document.documentElement.clientWidth;
    const out = [...document.querySelectorAll("body *")].filter(element =>
        element.getBoundingClientRect().right > width + 1
        && element.parentElement.getBoundingClientRect().right <= width + 1);
    const name = element => element.tagName.toLowerCase() + (element.id ? "#" + element.id : "")
        + (element.className ? "." + String(element.className).split(" ").join(".") : "");
    return [document.documentElement.scrollWidth - width, out.slice(0, 4).map(name)];
}"""
# Keyboard reach: every control on screen (a radio group counts once, as Tab reaches one
# radio of it and the arrow keys the rest) is recorded here as Tab gives it focus.
CONTROLS = """() => {
    const selector = "a[href], button, input:not([type=hidden]), select, textarea, summary, "
        + "[tabindex]:not([tabindex='-1'])";
    const shown = [...document.querySelectorAll(selector)].filter(element =>
        !element.disabled && element.getClientRects().length > 0
        && getComputedStyle(element).visibility !== "hidden");
    const key = element => element.type === "radio" ? "radio:" + element.name : element;
    window.wanted = new Map(shown.map(element => [key(element), element]));
    window.reached = new Set();
    document.addEventListener("focusin", event => {
        if (window.wanted.has(key(event.target))) window.reached.add(key(event.target));
    });
    return window.wanted.size;
}"""
UNREACHED = """() => [...window.wanted].filter(([key]) => !window.reached.has(key))
    .map(([, element]) => element.outerHTML.slice(0, 100))"""


@pytest.fixture(scope="module")
def axe() -> Path:
    """axe-core, installed from the npm registry with the lock file beside its
    package.json the first time (node_modules is not committed)."""
    if not AXE.exists():
        if shutil.which("npm") is None:
            message = "npm is not installed: axe-core cannot be installed"
            if backends_required():
                pytest.fail(message)
            pytest.skip(message)
        npm = ["npm", "ci", "--no-audit", "--no-fund", "--prefix", str(AXE_DIR)]
        subprocess.run(npm, check=True, capture_output=True, timeout=300)
    return AXE


async def pages_of(page: Page, server: str) -> list[str]:
    """Every console page reachable by links from the overview, one of each kind (a
    second host's page is the first one's template again), each with its query left out."""
    queue, kinds, found = ["/"], set(), []
    while queue:
        path = queue.pop(0).split("?")[0].split("#")[0]
        kind = re.sub(r"/\d+", "/{id}", path)
        if kind in kinds or NOT_PAGES.search(path):
            continue
        kinds.add(kind)
        answer = await page.goto(f"{server}{path}")
        assert answer is not None
        assert answer.ok, f"{path}: {answer.status}"
        if not answer.headers["content-type"].startswith("text/html"):
            continue
        found.append(path)
        links = "links => links.map(link => link.getAttribute('href'))"
        hrefs = await page.eval_on_selector_all("a[href]", links)
        queue += [href for href in hrefs if href.startswith("/") and not href.startswith("//")]
    return found


async def test_every_page_passes_axe_is_walked_by_keyboard_and_fits_a_phone(
    server: str, chromium: Browser, target: dict[str, int], axe: Path
) -> None:
    """Every page an admin reaches (and the sign-in page): no serious or critical axe-core
    violation, every control reached by the Tab key, and at 390 px nothing wider than the
    screen (a wide table scrolls in its own box, the page does not)."""

    def one_of_each() -> None:
        """A job that fails (its ticket and alert) and one that succeeds, both ended: every
        status badge and page there is, whichever tests ran before."""
        with admin_api(server) as api:
            for playbook in ("fails", "watched"):
                body = {"playbook_id": target[playbook], "host_id": target["host"]}
                job = api.post("/jobs", json=body).json()["id"]
                for _ in range(120):
                    if api.get(f"/jobs/{job}").json()["completed_at"] is not None:
                        break
                    time.sleep(0.5)
                else:
                    pytest.fail(f"job {job} ({playbook}) did not end within a minute")

    await asyncio.to_thread(one_of_each)
    # axe is injected as a script: the console's Content-Security-Policy would refuse it.
    context = await chromium.new_context(bypass_csp=True, viewport=DESKTOP)
    page = await context.new_page()
    refused: dict[str, list[str]] = {}

    async def check(path: str) -> None:
        for size in (DESKTOP, PHONE):
            await page.set_viewport_size(size)
            await page.goto(f"{server}{path}")
            problems = refused.setdefault(f"{path} at {size['width']} px", [])
            if size is DESKTOP:
                await page.add_script_tag(path=str(axe))
                problems += await page.evaluate(VIOLATIONS)
                # Tab until every control had focus, or twice round the page (the browser
                # adds stops of its own: a scrolling box, the address bar).
                controls = await page.evaluate(CONTROLS)
                for _ in range(0, 2 * controls + 10, 10):
                    for _ in range(10):
                        await page.keyboard.press("Tab")
                    if await page.evaluate("() => window.reached.size >= window.wanted.size"):
                        break
                problems += [
                    f"not reached by Tab: {html}" for html in await page.evaluate(UNREACHED)
                ]
            else:
                overflow, sticking_out = await page.evaluate(OVERFLOW)
                if overflow > 0:
                    problems.append(f"{overflow} px wider than the screen: {sticking_out}")
                if SCREENSHOTS and path == "/":
                    await page.screenshot(path=Path(SCREENSHOTS) / "phone.png", full_page=True)

    await check("/login")
    await sign_in(page, server, "grace")
    paths = await pages_of(page, server)
    for path in paths:
        await check(path)
    await context.close()

    assert len(paths) >= 25, paths  # the crawl found the console, not just a corner of it
    failing = [f"{where}: {problem}" for where, found in refused.items() for problem in found]
    assert not failing, "\n".join(failing)


async def test_a_tag_is_added_to_every_host_a_filter_selects_after_seeing_how_many(
    server: str, admin_page: Page
) -> None:
    page, environment = admin_page, unique("fleet-env")

    def two_hosts() -> list[int]:
        with admin_api(server) as api:
            made = [
                api.post("/hosts", json={"hostname": f"{unique('t')}.test", "os_type": "linux",
                                         "ip_address": "127.0.0.1", "environment": environment})
                for _ in range(2)
            ]  # fmt: skip
            return [answer.json()["id"] for answer in made]

    ids = await asyncio.to_thread(two_hosts)
    await page.goto(f"{server}/hosts?environment={environment}")
    await page.get_by_role("link", name="Change every host these filters select…").click()
    await page.get_by_label("Add a tag").check()
    await page.get_by_label("Tag (key=value)").fill("patched=2026-12")
    await page.get_by_role("button", name="Review the change").click()
    assert await page.locator("#matched").inner_text() == "2"
    await page.get_by_role("button", name="Change 2 host(s)").click()
    await page.wait_for_url(re.compile(rf"{server}/hosts\?environment={environment}"))

    def tags() -> list[object]:
        with admin_api(server) as api:
            return [api.get(f"/hosts/{host}").json()["tags"] for host in ids]

    assert await asyncio.to_thread(tags) == [{"patched": "2026-12"}] * 2


async def test_the_hosts_ticked_on_the_list_are_changed_after_seeing_how_many(
    server: str, admin_page: Page
) -> None:
    page, environment = admin_page, unique("ticked-env")

    def three_hosts() -> list[dict[str, Any]]:
        with admin_api(server) as api:
            made = [
                api.post("/hosts", json={"hostname": f"{unique('t')}.test", "os_type": "linux",
                                         "ip_address": "127.0.0.1", "environment": environment})
                for _ in range(3)
            ]  # fmt: skip
            return [answer.json() for answer in made]

    hosts = await asyncio.to_thread(three_hosts)
    await page.goto(f"{server}/hosts?environment={environment}")
    for host in hosts[:2]:  # the boxes sit in the table, outside their form (form="ticked")
        await page.get_by_label(f"Tick {host['hostname']}").check()
    await page.get_by_role("button", name="Change the hosts ticked…").click()
    assert await page.locator("#matched").inner_text() == "2"
    await page.get_by_label("Move to a status").check()
    await page.get_by_label("Status", exact=True).select_option("provisioning")
    await page.get_by_role("button", name="Review the change").click()
    await page.get_by_role("button", name="Change 2 host(s)").click()
    await page.wait_for_url(re.compile(rf"{server}/hosts\?environment={environment}"))

    def statuses() -> list[str]:
        with admin_api(server) as api:
            return [api.get(f"/hosts/{host['id']}").json()["status"] for host in hosts]

    assert await asyncio.to_thread(statuses) == ["provisioning", "provisioning", "new"]


async def test_an_admin_deletes_a_host_for_good_only_after_typing_its_hostname(
    server: str, admin_page: Page
) -> None:
    page, hostname = admin_page, f"{unique('gone')}.test"

    def one_host() -> int:
        with admin_api(server) as api:
            made = api.post(
                "/hosts", json={"hostname": hostname, "ip_address": "127.0.0.1", "os_type": "linux"}
            )
            return int(made.json()["id"])

    host = await asyncio.to_thread(one_host)
    await page.goto(f"{server}/hosts/{host}")
    await page.get_by_role("button", name="Deactivate", exact=True).click()
    await page.wait_for_url(f"{server}/hosts/{host}")
    assert await page.get_by_role("button", name="Deactivate", exact=True).count() == 0

    typed = page.get_by_label("To delete it for good, type its hostname")
    await typed.fill("not-" + hostname)
    await page.get_by_role("button", name="Delete for good").click()
    assert await page.get_by_role("alert").inner_text() == (
        f"Type {hostname} to delete this host for good."
    )
    assert await typed.get_attribute("aria-invalid") == "true"
    await typed.fill(hostname)
    await page.get_by_role("button", name="Delete for good").click()
    await page.wait_for_url(f"{server}/hosts")

    def status() -> int:
        with admin_api(server) as api:
            return api.get(f"/hosts/{host}").status_code

    assert await asyncio.to_thread(status) == 404


async def test_an_admin_downloads_a_backup_from_the_system_page(
    server: str, admin_page: Page
) -> None:
    page = admin_page
    await page.goto(f"{server}/system")
    await page.get_by_label("Your password").fill("not the password")
    await page.get_by_role("button", name="Download a backup").click()
    assert "the current password is not correct" in await page.get_by_role("alert").inner_text()

    await page.get_by_label("Your password").fill(PASSWORD)
    async with page.expect_download() as started:
        await page.get_by_role("button", name="Download a backup").click()
    download = await started.value
    assert re.fullmatch(r"opsledger-\d{8}T\d{6}Z\.zip", download.suggested_filename)
    with zipfile.ZipFile(await download.path()) as archive:
        assert "manifest.json" in archive.namelist()


async def test_a_key_shown_once_is_copied_with_its_button(server: str, chromium: Browser) -> None:
    context = await chromium.new_context(permissions=["clipboard-read", "clipboard-write"])
    page = await context.new_page()
    await sign_in(page, server, "grace")
    await page.goto(f"{server}/account")
    await page.get_by_label("Name", exact=True).fill(unique("copied"))
    await page.get_by_role("button", name="Make key").click()
    shown = await page.locator("#api-key").inner_text()

    await page.get_by_role("button", name="Copy the API key").click()

    await page.get_by_text("Copied.", exact=True).wait_for()
    assert await page.evaluate("navigator.clipboard.readText()") == shown
    async with httpx.AsyncClient(base_url=f"{server}/api/v1") as api:
        me = await api.get("/users/me", headers={"X-API-Key": shown})
    assert me.json()["username"] == "grace"
    await context.close()
