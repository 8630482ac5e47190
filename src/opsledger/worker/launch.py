"""The program ansible-runner starts for a job in place of ``ansible-playbook``.

It replaces itself with the command ``sandbox.py`` prepared (bubblewrap, then setpriv
when the server is root, then ansible-playbook) and hands it an environment built from
nothing: the spec's variables and the few that ansible-runner's event callback needs,
never the server's. Standard library only: it runs once per job, before anything else.
"""

from __future__ import annotations

import json
import os
import sys

SPEC = "OPSLEDGER_JOB_SPEC"
# What ansible-runner sets for its event callback; the spec supplies everything else.
FROM_RUNNER = (
    "ANSIBLE_CALLBACK_PLUGINS",
    "ANSIBLE_LOAD_CALLBACK_PLUGINS",
    "ANSIBLE_STDOUT_CALLBACK",
    "ANSIBLE_CACHE_PLUGIN",
    "AWX_ISOLATED_DATA_DIR",
    "RUNNER_OMIT_EVENTS",
    "RUNNER_ONLY_FAILED_EVENTS",
)


def main() -> None:
    spec = json.loads(os.environ[SPEC])
    environment = {name: os.environ[name] for name in FROM_RUNNER if name in os.environ}
    environment.update(spec["env"])
    argv = [*spec["argv"], *sys.argv[1:]]
    os.execve(argv[0], argv, environment)


if __name__ == "__main__":
    main()
