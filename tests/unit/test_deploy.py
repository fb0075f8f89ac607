"""The deployment files: the ansible roles pass ansible-lint and a syntax check, and the Vagrant lab validates.

These run the real tools (ansible-lint and ansible-playbook from the virtualenv, Debian's vagrant with
vagrant-libvirt): the roles are what `make up` runs on localhost and what `vagrant up` deploys with.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO

BIN = Path(sys.executable).parent


def test_the_roles_pass_ansible_lint() -> None:
    done = subprocess.run([str(BIN / "ansible-lint"), "--offline", "-q", "deploy.yml", "site.yml", "install-code.yml"],
                          cwd=REPO / "ansible", capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_deployment_playbook_parses_against_the_example_inventory() -> None:
    done = subprocess.run([str(BIN / "ansible-playbook"), "--syntax-check", "-i", "inventory.example.ini",
                           "deploy.yml"], cwd=REPO / "ansible", capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(shutil.which("vagrant") is None, reason="vagrant is installed by ansible/site.yml (make test)")
def test_the_three_node_vagrant_lab_validates() -> None:
    done = subprocess.run(["vagrant", "validate"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "validated successfully" in done.stdout, done.stdout + done.stderr
