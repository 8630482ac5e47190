"""A real sshd on a loopback port with a generated key pair and a throwaway user, for
the tests that run playbooks (see shared/notes/ansible-runner.md for why each option)."""

from __future__ import annotations

import getpass
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.cli import free_port

SSHD = Path("/usr/sbin/sshd")
TEST_USER = "opsledger-ssh"


@dataclass(frozen=True)
class SshServer:
    port: int
    user: str
    home: Path
    private_key: str
    known_hosts_line: str


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
    )


def _login_user() -> tuple[str, Path]:
    """As root, a dedicated unprivileged account; otherwise the current user (an sshd
    that is not root can only log its own user in)."""
    if os.geteuid() != 0:
        name = getpass.getuser()
        return name, Path(pwd.getpwnam(name).pw_dir)
    try:
        pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", TEST_USER], check=True)
    # useradd leaves the account locked ("!"); with UsePAM no sshd refuses a locked one.
    subprocess.run(["usermod", "-p", "*", TEST_USER], check=True)
    entry = pwd.getpwnam(TEST_USER)
    # A home left by an earlier account of that name (another uid) would refuse its writes.
    os.chown(entry.pw_dir, entry.pw_uid, entry.pw_gid)
    return TEST_USER, Path(entry.pw_dir)


def _wait_for(port: int, process: subprocess.Popen[bytes], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"sshd did not listen on port {port} within {seconds}s")


@contextmanager
def ssh_server() -> Iterator[SshServer]:
    """The server's files live in a directory of their own that the login user can
    read (pytest's temporary directories are private to their owner)."""
    workdir = Path(tempfile.mkdtemp(prefix="opsledger-sshd-"))
    try:
        with _serve(workdir) as server:
            yield server
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def _serve(workdir: Path) -> Iterator[SshServer]:
    user, home = _login_user()
    host_key, client_key = workdir / "host_key", workdir / "client_key"
    _keygen(host_key)
    _keygen(client_key)
    authorized = workdir / "authorized_keys"
    authorized.write_text(client_key.with_suffix(".pub").read_text())
    authorized.chmod(0o644)
    workdir.chmod(0o755)
    port = free_port()
    config = workdir / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\n"
        f"PidFile {workdir / 'sshd.pid'}\nAuthorizedKeysFile {authorized}\n"
        "UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "StrictModes no\nSubsystem sftp /usr/lib/openssh/sftp-server\n"
        # Every host record of a fleet points here: with forks 20 (bench/fleet.py) the
        # default 10:30:100 drops handshakes that many sshds would each have taken.
        "MaxStartups 100:30:200\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)
    process = subprocess.Popen(
        [str(SSHD), "-D", "-e", "-f", str(config)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(port, process)
        public_host_key = host_key.with_suffix(".pub").read_text().split()
        yield SshServer(
            port=port,
            user=user,
            home=home,
            private_key=client_key.read_text(),
            known_hosts_line=f"[127.0.0.1]:{port} {public_host_key[0]} {public_host_key[1]}\n",
        )
    finally:
        process.terminate()
        process.wait(10)


def sshd_available() -> bool:
    return SSHD.exists() and shutil.which("ssh") is not None
