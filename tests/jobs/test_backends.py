"""The same job through the other ways of running one: a real Celery worker process
over the machine's Redis, and `opsledger jobs run` from the shell."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.jobs.runner import processes_naming
from tests.api import ENCRYPTION_KEY, JWT_SECRET, Person
from tests.e2e.cli import OPSLEDGER, clean_env, opsledger
from tests.factories import unique
from tests.jobs.conftest import Lab, open_lab
from tests.jobs.test_runner import FAILING, SLEEP_MARKER, SLEEPING, WRITE_AND_READ
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
        async with asyncio.timeout(60):
            while not processes_naming(SLEEP_MARKER):
                await asyncio.sleep(0.1)
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
    assert lab.ssh.private_key.splitlines()[1] not in worker_log
    assert list(lab.work_dir.rglob("*")) == []


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
