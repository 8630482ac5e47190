"""The same job through the other ways of running one: a real Celery worker process
over the machine's Redis, and `opsledger jobs run` from the shell."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.config import Settings
from opsledger.db.session import session_factory, unit_of_work
from opsledger.jobs import dispatch
from opsledger.jobs.models import Job, JobStatus
from opsledger.schedules import firing
from opsledger.security.context import system_context
from opsledger.worker.pool import JobPool
from opsledger.worker.runner import processes_naming
from tests.api import ENCRYPTION_KEY, JWT_SECRET, Person, api_settings
from tests.e2e.cli import OPSLEDGER, clean_env, opsledger
from tests.factories import unique
from tests.jobs.conftest import Lab, open_lab
from tests.jobs.test_runner import FAILING, SLEEP_MARKER, SLEEPING, WRITE_AND_READ
from tests.runs.conftest import Fleet
from tests.sshd import SshServer

VARIABLES = {"greeting": "hi", "from_role": "r", "from_playbook": "p"}


def process_settings(lab: Lab) -> dict[str, str]:
    """What a separate opsledger process needs to share this lab's database and keys."""
    return {
        "database_url": lab.engine.url.render_as_string(hide_password=False),
        "encryption_keys": ENCRYPTION_KEY,
        "jwt_secret": JWT_SECRET,
        "playbook_root": str(lab.settings.playbook_root),
        "job_work_dir": str(lab.work_dir),
        "job_heartbeat_seconds": "1",
    }


@contextmanager
def celery_worker(lab: Lab, log: Path) -> Iterator[None]:
    queue = {"job_backend": "celery", "celery_queue": lab.settings.celery_queue}
    settings = process_settings(lab) | queue
    with log.open("w") as output:
        worker = subprocess.Popen(
            [OPSLEDGER, "worker", "--concurrency", "1"],
            env=clean_env(**settings),
            cwd=log.parent,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            yield
        finally:
            worker.terminate()
            worker.wait(30)


@pytest.fixture
async def celery_lab(
    engine: AsyncEngine, admin: Person, operator: Person, ssh: SshServer, tmp_path: Path
) -> AsyncIterator[Lab]:
    """A lab whose API sends jobs to a queue of its own; only Celery workers run them."""
    queue = unique("opsledger-test")
    async with open_lab(
        engine, (admin, operator), ssh, tmp_path, 0, job_backend="celery", celery_queue=queue
    ) as lab:
        yield lab


# Celery workers serve fleets on a database server: SQLite with Celery is not a setup
# anyone runs, and the worker's database code is the embedded runner's, tested there.
@pytest.mark.backends("postgresql", "mariadb")
async def test_a_celery_worker_runs_and_cancels_jobs(celery_lab: Lab, tmp_path: Path) -> None:
    lab = celery_lab
    target = lab.ssh.home / f"{unique('celery')}.txt"
    playbook = await lab.playbook(WRITE_AND_READ, variables=VARIABLES)
    sleeper = await lab.playbook(SLEEPING)
    host = await lab.host()
    log = tmp_path / "worker.log"

    with celery_worker(lab, log):
        job_id = await lab.launch(playbook, host, extra_vars={"target_file": str(target)})
        job = await lab.wait(job_id, timeout=120)
        sleeping = await lab.launch(sleeper, host)
        try:
            async with asyncio.timeout(60):
                while not processes_naming(SLEEP_MARKER):
                    await asyncio.sleep(0.1)
        except TimeoutError:
            pytest.fail(f"never started: {await lab.job(sleeping)}\n{log.read_text()}")
        cancel = await lab.client.post(f"/jobs/{sleeping}/cancel", headers=lab.operator.headers)
        assert cancel.status_code == 200, cancel.text
        async with asyncio.timeout(30):
            while processes_naming(SLEEP_MARKER) or processes_naming(str(lab.work_dir)):
                await asyncio.sleep(0.1)

    worker_log = log.read_text()
    assert job["status"] == "success", worker_log
    assert job["celery_task_id"], job
    assert target.read_text() == "hi from r and p\n"
    assert "PLAY RECAP" in await lab.output(job_id)
    assert (await lab.job(sleeping))["status"] == "cancelled"
    assert f"opsledger.run_job[{job['celery_task_id']}]" in worker_log
    async with unit_of_work(session_factory(lab.engine)) as session:
        assert (await session.get_one(Job, job_id)).dispatched_at is not None
    assert lab.ssh.private_key.splitlines()[1] not in worker_log
    assert list(lab.work_dir.rglob("*")) == []


def queued_task_ids(settings: Settings) -> list[str]:
    """The task ids waiting in the lab's queue on the machine's Redis."""
    queue = redis.Redis.from_url(settings.redis_url)
    try:
        return [
            json.loads(body)["headers"]["id"] for body in queue.lrange(settings.celery_queue, 0, -1)
        ]
    finally:
        queue.delete(settings.celery_queue)
        queue.close()


async def test_a_job_whose_task_could_not_be_sent_is_sent_again(
    engine: AsyncEngine, admin: Person, operator: Person, ssh: SshServer, tmp_path: Path
) -> None:
    """The broker is down when the job is created: it stays pending without a dispatch
    time; once the broker is back the reaper sends it, once."""
    queue = unique("opsledger-test")
    down = {"job_backend": "celery", "celery_queue": queue, "redis_url": "redis://127.0.0.1:9/0"}
    async with open_lab(engine, (admin, operator), ssh, tmp_path, 0, **down) as lab:
        job_id = await lab.launch(await lab.playbook(FAILING), await lab.host())
        await dispatch.settled()
        assert (await lab.job(job_id))["status"] == "pending"
    async with unit_of_work(session_factory(engine)) as session:
        job = await session.get_one(Job, job_id)
    assert job.celery_task_id is not None
    assert job.dispatched_at is None

    back = lab.settings.model_copy(
        update={"redis_url": api_settings().redis_url, "job_dispatch_retry_seconds": 0.001}
    )
    reaper = JobPool(engine, back, 0)
    await reaper.reap()
    await reaper.reap()  # sent already: not again

    async with unit_of_work(session_factory(engine)) as session:
        job = await session.get_one(Job, job_id, populate_existing=True)
    assert job.dispatched_at is not None
    assert job.status is JobStatus.pending
    assert queued_task_ids(back).count(job.celery_task_id) == 1


# The command runs the same job code as the pool, which every backend tests; this is
# about the shell: arguments, output and exit codes.
@pytest.mark.backends("sqlite")
async def test_jobs_run_from_the_shell_prints_the_output_and_the_outcome(
    lab: Lab, tmp_path: Path
) -> None:
    await lab.pool.stop()  # the command runs the job itself
    target = lab.ssh.home / f"{unique('cli')}.txt"
    good = await lab.playbook(WRITE_AND_READ, variables=VARIABLES)
    bad = await lab.playbook(FAILING)
    host = await lab.host()
    settings = process_settings(lab)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return opsledger("jobs", "run", *args, cwd=tmp_path, **settings)

    ok, failed, wrong = await asyncio.gather(
        asyncio.to_thread(
            run,
            good["name"],
            host["hostname"],
            "-e",
            f"target_file={target}",
            "-e",
            '{"greeting": "hey"}',
            "--follow",
            "--user",
            lab.operator.username,
        ),
        asyncio.to_thread(run, bad["name"], str(host["id"]), "--user", lab.operator.username),
        asyncio.to_thread(run, "no-such-playbook", host["hostname"]),
    )

    assert ok.returncode == 0, ok.stderr
    assert "TASK [read it back]" in ok.stdout
    assert "read back: hey from r and p" in ok.stdout
    assert "job ended: success" in ok.stdout
    assert target.read_text() == "hey from r and p\n"
    assert failed.returncode == 1
    assert "did not succeed (failed)" in failed.stderr
    assert wrong.returncode == 1
    assert "no playbook named 'no-such-playbook'" in wrong.stderr
    bad_var = await asyncio.to_thread(run, good["name"], host["hostname"], "-e", "novalue")
    assert bad_var.returncode == 2
    assert "KEY=VALUE" in bad_var.stderr


@pytest.mark.backends("postgresql")
async def test_a_celery_worker_runs_a_runs_batches_one_after_another(
    celery_lab: Lab, tmp_path: Path
) -> None:
    """Only the first batch's job is sent at launch; each next one when its batch's turn
    comes (the worker that finished the batch sends it)."""
    lab = celery_lab
    fleet = Fleet(lab)
    playbook = await lab.playbook("    - command: 'true'\n")
    await fleet.hosts("one", "two", "three")
    log = tmp_path / "worker.log"

    with celery_worker(lab, log):
        launched = await fleet.launch(playbook, batch_size=1)
        run = await fleet.wait(launched["id"], timeout=180)
    hosts = await fleet.page(f"/runs/{run['id']}/hosts")

    assert run["status"] == "success", log.read_text()
    assert run["batches"] == 3
    assert [host["status"] for host in hosts] == ["success"] * 3
    assert log.read_text().count("opsledger.run_job[") >= 3


@pytest.mark.backends("postgresql")
async def test_a_schedule_a_server_fires_runs_on_a_celery_worker(
    celery_lab: Lab, tmp_path: Path
) -> None:
    """With Celery, schedules fire in the server processes (each repeats the firing loop
    whatever the job backend) and their runs' jobs go to the workers."""
    lab = celery_lab
    fleet = Fleet(lab)
    playbook = await lab.playbook("    - command: 'true'\n")
    await fleet.hosts("nightly")
    template = await lab.client.post(
        "/job-templates",
        json={"name": unique("nightly"), "playbook_id": playbook["id"], "selector": fleet.selector},
        headers=lab.operator.headers,
    )  # fmt: skip
    assert template.status_code == 201, template.text
    at = datetime.now(UTC) + timedelta(seconds=1)
    schedule = await lab.client.post(
        "/schedules",
        json={"name": unique("nightly"), "template_id": template.json()["id"],
              "run_at": at.isoformat(), "timezone": "UTC"},
        headers=lab.operator.headers,
    )  # fmt: skip
    assert schedule.status_code == 201, schedule.text
    log = tmp_path / "worker.log"

    # What a server process's firing loop does when the time comes (the lab's own loop is
    # off: other tests' schedules in the shared database are not its to fire).
    async with unit_of_work(session_factory(lab.engine)) as session:
        ctx = system_context(session, lab.settings, "scheduler@test")
        fired = await firing.fire(ctx, schedule.json()["id"], at + timedelta(seconds=1))
    await dispatch.settled()
    assert fired is not None
    assert fired.run_id is not None
    with celery_worker(lab, log):
        run = await fleet.wait(fired.run_id, timeout=180)

    assert run["status"] == "success", log.read_text()
    assert "opsledger.run_job[" in log.read_text()
