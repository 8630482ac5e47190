"""The job sandbox: what a playbook's process can see, and whom it runs as.

A playbook is code that runs on the controller: ``connection: local``, ``delegate_to:
localhost``, ``raw`` there and every lookup execute in the job's own processes. opsledger
treats every playbook as hostile, even one an admin registered, and confines the whole
job process (``job_process.py``: ansible-runner, ansible-playbook and all they start):

- Its environment is built from nothing: Ansible's settings and the run's paths, never
  the server's variables.
- With ``OPSLEDGER_JOB_SANDBOX=bwrap`` (the default) it runs under bubblewrap in new
  mount, PID, IPC and UTS namespaces. Its file system holds /usr, a few files of /etc,
  Python, the playbook root (read-only) and the run's own directory: not the key file,
  the database, the .env, other jobs' directories, nor the server's /proc (it has a
  /proc of its own). With ``OPSLEDGER_JOB_NETWORK=ssh`` (the default) it has a network
  namespace of its own too: its only way out is SSH to its own hosts (``relay.py``).
- When the server runs as root, it runs as ``OPSLEDGER_RUNNER_USER`` without
  capabilities and unable to gain any (setpriv, no_new_privs).
- The SSH key never lies in a file it can open: an ssh-agent started for the run holds
  it; the job gets the agent's socket and the public half, so ssh can authenticate but
  nothing can print the key.
- The server reads nothing the job wrote but the JSON lines on its stdout: no file of
  the run's directory, which the playbook could have replaced with a symlink or a FIFO.

A run's directory (0700, the server's) holds ``job/`` (the job process's home and
ansible-runner's private data, writable to it); the agent's directory lies beside it,
with the run's sockets: the agent's, the relay's and ssh's master connections'.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from opsledger.config import JobNetwork, JobSandbox, Settings
from opsledger.db.engine import sqlite_file

AGENT_SUFFIX = ".agent"
# Started by path, never imported here: ansible-runner loads only in the job process.
JOB_PROCESS = Path(__file__).with_name("job_process.py")
AGENT_START_SECONDS = 5.0
# How long a host's idle master connection waits for the host's next task: a round of
# the batch's other hosts at one task each. A master lives no longer than its run.
CONTROL_PERSIST = "30s"
# The system the playbook process needs: libraries, programs, names, certificates and the
# ssh client's configuration. /etc/ssh as a whole would carry sshd's host keys.
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = (
    "/etc/alternatives",
    "/etc/ca-certificates",
    "/etc/crypto-policies",
    "/etc/group",
    "/etc/gai.conf",
    "/etc/host.conf",
    "/etc/hosts",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/nsswitch.conf",
    "/etc/os-release",
    "/etc/passwd",
    "/etc/pki",
    "/etc/resolv.conf",
    "/etc/services",
    "/etc/ssh/ssh_config",
    "/etc/ssh/ssh_config.d",
    "/etc/ssl",
)


class SandboxError(Exception):
    """The run cannot be confined as configured; the message says what to do."""


@dataclass(frozen=True)
class Account:
    """Who the playbook process runs as, when that is not the server's own user."""

    name: str
    uid: int
    gid: int


@dataclass(frozen=True)
class RunDirs:
    root: Path

    @property
    def own(self) -> Path:
        """The job process's directory, its home: ansible-runner's private data (inputs
        and artifacts), Ansible's temp and state, known_hosts."""
        return self.root / "job"

    @property
    def private(self) -> Path:
        """ansible-runner's private data directory."""
        return self.own / "runner"

    @property
    def inventory(self) -> Path:
        return self.private / "inventory" / "hosts.yml"

    @property
    def extravars(self) -> Path:
        return self.private / "env" / "extravars"

    @property
    def agent(self) -> Path:
        """The agent's directory, beside the run's in the system's temp directory: the
        agent runs as the job's account outside the sandbox, and the run's own directory
        may lie under one that account cannot pass through."""
        return Path(tempfile.gettempdir()) / f"{self.root.name}{AGENT_SUFFIX}"

    @property
    def agent_socket(self) -> Path:
        return self.agent / "agent.sock"

    @property
    def relay_socket(self) -> Path:
        return self.agent / "relay.sock"

    @property
    def control(self) -> Path:
        """Where ssh keeps the run's master connections, one per host (see
        ``control_socket``): beside the agent's socket, in the system's temp directory,
        where a socket's path stays short whatever directory the run's lies in."""
        return self.agent / "cp"

    def control_socket(self, index: int) -> Path:
        """The ``index``th host's master connection: its own, never one keyed by address,
        port and user (Ansible's default), which two host records pointing at one sshd
        would share, the second riding on the first's authentication."""
        return self.control / str(index)

    def identity(self, index: int) -> Path:
        """The public half of the key of the run's ``index``th host: ssh asks the agent
        for the private one."""
        return self.own / f"identity-{index}.pub"


@dataclass(frozen=True)
class JobCommand:
    """How to start the job process: its argument list and its whole environment."""

    argv: list[str]
    env: dict[str, str]


def problem(settings: Settings) -> str | None:
    """Why jobs cannot run with these settings on this machine, or None."""
    root = os.geteuid() == 0
    if settings.job_sandbox is JobSandbox.none:
        if root:
            return (
                "opsledger runs as root and OPSLEDGER_JOB_SANDBOX=none: refusing to run "
                "playbooks unconfined as root (use bwrap, the default)"
            )
        return None
    if shutil.which("bwrap") is None:
        return (
            "the job sandbox needs bubblewrap (apt-get install bubblewrap); or set "
            "OPSLEDGER_JOB_SANDBOX=none to run playbooks unconfined (development only)"
        )
    if root:
        if shutil.which("setpriv") is None:
            return "the job sandbox needs setpriv (util-linux) to drop root"
        try:
            runner_account(settings)
        except SandboxError as exc:
            return str(exc)
    overlap = _exposed_secrets(settings)
    if overlap:
        return f"the job sandbox would show it: {overlap}; move it out"
    return None


def runner_account(settings: Settings) -> Account | None:
    """The unprivileged account playbooks run as when the server is root."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(settings.runner_user)
    except KeyError:
        raise SandboxError(
            f"the runner user {settings.runner_user!r} does not exist: `opsledger up` "
            f"creates it (or useradd --system {settings.runner_user})"
        ) from None
    if entry.pw_uid == 0:
        raise SandboxError(f"the runner user {settings.runner_user!r} is root")
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid)


def create_runner_user(settings: Settings) -> bool:
    """As root: create the runner account if it is missing. True when it was created."""
    if os.geteuid() != 0:
        return False
    try:
        pwd.getpwnam(settings.runner_user)
        return False
    except KeyError:
        pass
    command = [
        tool("useradd"),
        *("--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent"),
        *("--shell", "/usr/sbin/nologin", settings.runner_user),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        try:
            pwd.getpwnam(settings.runner_user)  # another process made it meanwhile
            return False
        except KeyError:
            pass
        raise SandboxError(
            f"could not create the runner user {settings.runner_user}: {done.stderr.strip()}"
        )
    return True


def tool(name: str) -> str:
    """The full path of a program the sandbox needs."""
    found = shutil.which(name)
    if found is None:
        raise SandboxError(f"{name} is not installed")
    return found


def _protected(settings: Settings) -> list[Path]:
    """What no playbook may read: the key file, the SQLite database, the .env, the
    directory of every run."""
    paths = [settings.key_file, Path(".env"), sqlite_file(settings.database_url)]
    paths.append(settings.job_work_dir)
    return [path.resolve() for path in paths if path is not None]


def _exposed_secrets(settings: Settings) -> str | None:
    """What the sandbox's read-only directories would show of the protected files."""
    shown = [settings.playbook_root, Path(sys.prefix), Path(sys.base_prefix)]
    for directory in (path.resolve() for path in shown):
        for path in _protected(settings):
            if path.is_relative_to(directory):
                return f"{directory} holds {path}"
    return None


# A Unix socket's path, with its closing NUL, fits in 108 bytes (sockaddr_un.sun_path).
SOCKET_PATH_BYTES = 107
# ssh makes a master's socket under a temporary name first: its path, "." and 16 letters.
CONTROL_TEMP_SUFFIX = 17


def prepare(dirs: RunDirs, account: Account | None, hosts: int) -> None:
    """Make the run's directories for ``hosts`` hosts and hand the job process's own to
    its account. Refuses a run whose sockets' paths would not fit: ssh would then quietly
    open a connection per task instead of sharing one per host."""
    longest = len(os.fsencode(dirs.control_socket(max(hosts - 1, 0)))) + CONTROL_TEMP_SUFFIX
    if longest > SOCKET_PATH_BYTES:
        raise SandboxError(
            f"the run's ssh control sockets under {dirs.control} would need paths of "
            f"{longest} bytes, more than a Unix socket takes ({SOCKET_PATH_BYTES}): "
            "set TMPDIR to a shorter directory"
        )
    for directory in (dirs.inventory.parent, dirs.extravars.parent, dirs.control):
        directory.mkdir(parents=True, mode=0o700)
    if account is not None:
        owned = (dirs.own, dirs.private, *dirs.private.iterdir(), dirs.agent, dirs.control)
        for directory in owned:
            os.chown(directory, account.uid, account.gid)


def job_command(dirs: RunDirs, settings: Settings, account: Account | None) -> JobCommand:
    """The job process (``job_process.py``, by path, under this interpreter), confined."""
    script = str(JOB_PROCESS.resolve())
    argv = [*_confinement(dirs, settings, account, script), sys.executable, script]
    return JobCommand(argv, _environment(dirs, settings))


def _confinement(
    dirs: RunDirs, settings: Settings, account: Account | None, script: str
) -> list[str]:
    """bubblewrap's arguments (and setpriv's, as root) up to the command they run."""
    if settings.job_sandbox is JobSandbox.none:
        return []
    argv = [
        tool("bwrap"),
        "--die-with-parent",
        "--new-session",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
    ]
    if account is None:
        argv.append("--unshare-user")  # unprivileged: a user namespace, same uid
    if settings.job_network is JobNetwork.ssh:
        argv.append("--unshare-net")  # loopback only: ssh leaves through the relay
    argv += _system_mounts()
    argv += ["--proc", "/proc", "--dev", "/dev"]
    for shared in ("/dev/shm", "/tmp"):  # noqa: S108 - the sandbox's own, empty
        argv += ["--perms", "1777", "--tmpfs", shared]
    readable = [sys.prefix, sys.base_prefix, str(settings.playbook_root.resolve()), script]
    if settings.ssh_known_hosts is not None:
        readable.append(str(settings.ssh_known_hosts.resolve()))
    writable = [str(dirs.own), str(dirs.agent)]
    # Mount point -> (kind, source). The playbook's account's home is its own directory
    # too: Ansible puts its temp files under ~ for delegated and local tasks.
    binds = (
        {path: ("--ro-bind-try", path) for path in ETC_FILES}
        | {path: ("--ro-bind", path) for path in readable}
        | {path: ("--bind", path) for path in writable}
    )
    # Ansible asks the shell for ~, which for a system account may be /nonexistent.
    home = pwd.getpwuid(os.getuid() if account is None else account.uid).pw_dir
    if home != "/" and not home.startswith(("/etc/", "/usr/", "/proc/", "/dev/")):
        binds[home] = ("--bind", str(dirs.own))
    argv += _parents(binds)
    for path, (kind, source) in binds.items():
        argv += [kind, source, path]
    argv += ["--chdir", str(dirs.own), "--"]
    if account is not None:
        argv += [
            tool("setpriv"),
            f"--reuid={account.uid}",
            f"--regid={account.gid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
            "--",
        ]
    return argv


def _parents(binds: dict[str, tuple[str, str]]) -> Iterator[str]:
    """Create the directories above each bind mount, traversable (bubblewrap would make
    them 0700, and root's, which the runner account could not pass)."""
    made = {"/", "/tmp", "/dev", *SYSTEM_DIRS}  # noqa: S108
    for path in binds:
        for parent in reversed(Path(path).parents):
            if str(parent) not in made and str(parent) not in binds:
                made.add(str(parent))
                yield from ("--perms", "0755", "--dir", str(parent))


def _system_mounts() -> Iterator[str]:
    for name in SYSTEM_DIRS:
        path = Path(name)
        if path.is_symlink():
            yield from ("--symlink", os.readlink(path), name)
        elif path.is_dir():
            yield from ("--ro-bind", name, name)


def _environment(dirs: RunDirs, settings: Settings) -> dict[str, str]:
    """Everything the playbook process's environment holds besides the callback's."""
    own = dirs.own
    known_hosts = settings.ssh_known_hosts or own / "known_hosts"
    checking = settings.ssh_known_hosts is not None
    # Only the run's key, through the run's agent: never the service account's agent or
    # default keys. One master connection per host (its control socket is the host's own,
    # in the run's directory: see RunDirs.control_socket), so each task after a host's
    # first reuses it instead of a new handshake and login; it goes with the run (the
    # sandbox's PID namespace, or stop_processes), so no other run can ever ride on it.
    proxy = shlex.join(
        [sys.executable, "-I", "-S", str(JOB_PROCESS.resolve()), "relay", str(dirs.relay_socket)]
    )
    ssh_args = (
        f"-o ControlMaster=auto -o ControlPersist={CONTROL_PERSIST} "
        f"-o UserKnownHostsFile={known_hosts} "
        f"-o IdentitiesOnly=yes -o IdentityAgent={dirs.agent_socket} "
        f"-o {shlex.quote(f'ProxyCommand={proxy} %h %p')} -o ProxyUseFdpass=yes"
    )
    if checking:
        ssh_args += " -o StrictHostKeyChecking=yes"
    return {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/local/bin:/usr/bin:/bin",
        "HOME": str(own),
        "TMPDIR": str(own / "tmp"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "SSH_AUTH_SOCK": str(dirs.agent_socket),
        "ANSIBLE_HOME": str(own / "ansible"),
        "ANSIBLE_LOCAL_TEMP": str(own / "tmp"),
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(dirs.control),
        "ANSIBLE_SSH_ARGS": ssh_args,
        "ANSIBLE_HOST_KEY_CHECKING": str(checking),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_PYTHON_INTERPRETER": "auto_silent",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        # Not pipelining, though it would need a third of the ssh connections: without
        # it a module runs on a tty, and a cancelled job's ssh hanging up stops the
        # task on the host too (with it, `sleep 3600` lived on after the cancel).
        "ANSIBLE_PIPELINING": "False",
    }


def public_half(private_key: str) -> str:
    """The OpenSSH public key line of a private key (OpenSSH or PEM)."""
    data = private_key.encode()
    try:
        key: Any = (
            serialization.load_ssh_private_key(data, None)
            if b"OPENSSH PRIVATE KEY" in data
            else serialization.load_pem_private_key(data, None)
        )
        public: bytes = key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise SandboxError("could not load the SSH key: not a private key it can read") from None
    return public.decode() + "\n"


class Agent:
    """An ssh-agent for one run, as the playbook's account: it holds the run's key."""

    def __init__(self, dirs: RunDirs, account: Account | None) -> None:
        self.dirs = dirs
        self._as: dict[str, Any] = (
            {}
            if account is None
            else {"user": account.uid, "group": account.gid, "extra_groups": []}
        )
        self._env = {"PATH": os.environ.get("PATH", ""), "SSH_AUTH_SOCK": str(dirs.agent_socket)}
        self._process: subprocess.Popen[bytes] | None = None
        # The public half of each key loaded, by the key (or its file): a fleet's hosts
        # often share one, which is then loaded once, not once per host.
        self._loaded: dict[str, str] = {}

    def start(self) -> None:
        self._process = subprocess.Popen(
            [tool("ssh-agent"), "-D", "-a", str(self.dirs.agent_socket)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=self._env,
            **self._as,
        )
        deadline = time.monotonic() + AGENT_START_SECONDS
        while not self.dirs.agent_socket.exists():
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise SandboxError("ssh-agent did not start")
            time.sleep(0.01)

    def add(self, private_key: str | None, key_path: str | None, identity: Path) -> None:
        """Load a host's key (a stored credential, or a file the playbook's account can
        read) unless it is loaded already, and write its public half to ``identity``,
        where ssh will look."""
        public = self._loaded.get(private_key or key_path or "")
        if public is None:
            public = self._load(private_key, key_path)
        identity.write_text(public)
        identity.chmod(0o644)

    def _load(self, private_key: str | None, key_path: str | None) -> str:
        """Add a key to the agent; returns its public half."""
        if private_key is not None:
            # OpenSSH reads LF lines only, ending in one: a key pasted into a browser's
            # text area arrives with CRLF (as HTML forms send every line), one from a
            # Windows file too.
            key = private_key.replace("\r\n", "\n").rstrip("\n") + "\n"
            self._key_tool("ssh-add", ["-q", "-"], key)
            public = self._loaded[private_key] = public_half(key)
        elif key_path is not None:
            self._key_tool("ssh-add", ["-q", key_path], None)
            public = self._key_tool("ssh-keygen", ["-y", "-f", key_path], None)
            self._loaded[key_path] = public
        else:
            raise SandboxError("no SSH key for this run")
        return public

    def _key_tool(self, name: str, args: list[str], stdin: str | None) -> str:
        done: subprocess.CompletedProcess[str] = subprocess.run(
            [tool(name), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self._env,
            timeout=30,
            **self._as,
        )
        if done.returncode != 0:
            reason = (done.stderr or done.stdout).strip().splitlines()
            raise SandboxError(f"could not load the SSH key: {reason[-1] if reason else '?'}")
        return done.stdout

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait()
