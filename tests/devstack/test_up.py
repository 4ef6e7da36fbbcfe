"""`python -m devstack up` end to end (devstack/__main__.py, stack.py, config.py, console.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devstack.ports import free_port, port_is_free
from tests.devstack.support import gone

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_devstack_up_starts_everything_and_stops_on_sigint(tmp_path):
    """`python -m devstack up` with stub API/worker commands, all ports chosen here."""
    env_dump = tmp_path / "worker-env.json"
    worker = (
        "import json, os, sys, time; "
        f"json.dump(dict(os.environ), open({str(env_dump)!r}, 'w')); "
        "print('worker ready', flush=True); time.sleep(600)"
    )
    api_port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "TEMPORAL_ADDRESS", "SMTP_HOST", "SMTP_PORT"}
        and not key.startswith("STRIPE_")
    }
    stripe_port = free_port()
    env.update(
        DEVSTACK_STATE_DIR=str(tmp_path / "stack"),
        API_PORT=str(api_port),
        DEVSTACK_POSTGRES_PORT=str(free_port()),
        DEVSTACK_REDIS_PORT=str(free_port()),
        DEVSTACK_TEMPORAL_PORT=str(free_port()),
        DEVSTACK_TEMPORAL_UI_PORT=str(free_port()),
        DEVSTACK_SMTP_PORT=str(free_port()),
        DEVSTACK_STRIPE_PORT=str(stripe_port),
        DEVSTACK_MIGRATE_CMD="{python} -c \"print('migrated')\"",
        DEVSTACK_API_CMD="{python} -m http.server {api_port} --bind 127.0.0.1",
        DEVSTACK_WORKER_CMD=f"{{python}} -c {json.dumps(worker)}",
        NO_COLOR="1",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "devstack", "up"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            if "(same settings in another shell)" in line:  # the banner's last row
                break
        else:
            pytest.fail("devstack exited early:\n" + "".join(output))
        deadline = time.monotonic() + 10
        while not env_dump.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        child_env = json.loads(env_dump.read_text())
        assert child_env["DATABASE_URL"].startswith("postgresql+asyncpg://postgres@127.0.0.1:")
        assert child_env["REDIS_URL"] == f"redis://127.0.0.1:{env['DEVSTACK_REDIS_PORT']}/0"
        assert child_env["TEMPORAL_ADDRESS"] == f"127.0.0.1:{env['DEVSTACK_TEMPORAL_PORT']}"
        assert child_env["SMTP_PORT"] == env["DEVSTACK_SMTP_PORT"]
        assert child_env["PUBLIC_BASE_URL"] == f"http://127.0.0.1:{api_port}"
        assert child_env["ENVIRONMENT"] == "development"
        assert child_env["STRIPE_API_BASE"] == f"http://127.0.0.1:{stripe_port}"
        assert child_env["STRIPE_API_KEY"].startswith("sk_test_")
        assert child_env["STRIPE_WEBHOOK_SECRET"].startswith("whsec_")
        exported = (tmp_path / "stack" / "env").read_text()
        assert f"export STRIPE_API_BASE=http://127.0.0.1:{stripe_port}" in exported
        assert "export STRIPE_API_KEY=sk_test_" in exported
        banner = "".join(output)
        assert "Ctrl-C stops everything" in banner
        assert f"Stripe         http://127.0.0.1:{stripe_port}  (emulator;" in banner
        assert child_env["STRIPE_API_KEY"] not in banner
        assert not port_is_free(api_port)
        pids = [int(p.read_text().split()[0]) for p in (tmp_path / "stack").glob("*/.devstack.pid")]
        assert len(pids) == 5

        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
        output.append(rest)
        assert proc.returncode == 0, "".join(output)
        assert "stopped." in rest
        assert all(gone(pid) for pid in pids)
        assert port_is_free(api_port)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
