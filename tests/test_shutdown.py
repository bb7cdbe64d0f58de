"""Graceful shutdown: SIGTERM while a request is in flight lets it finish, then the server exits."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.db.migrate import upgrade
from tests.support.api import ADMIN, bill_1, register_hospitals, sample_hospitals
from tests.support.db import ADMIN_TOKEN
from tests.support.figures import report

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def big_bill(lines: int) -> dict[str, Any]:
    bill = bill_1()
    items = []
    for i in range(lines):
        item = dict(bill["items"][i % len(bill["items"])])
        item["line_no"] = i + 1
        items.append(item)
    bill["items"] = items
    bill["bill_no"] = "SHUTDOWN-1"
    return bill


def test_sigterm_finishes_the_request_in_flight(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'settle.db'}"
    upgrade(url)
    port = free_port()
    env = {**os.environ, "SETTLE_DATABASE_URL": url, "SETTLE_ADMIN_TOKEN": ADMIN_TOKEN, "SETTLE_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        with httpx.Client(base_url=base) as http:
            register_hospitals(http, sample_hospitals())
        result: dict[str, Any] = {}
        body = json.dumps(big_bill(20_000)).encode()
        head = (
            f"POST /v1/bills HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: {ADMIN['Authorization']}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
        ).encode()
        in_flight = threading.Event()
        signalled = threading.Event()

        def post() -> None:
            # ``Expect: 100-continue``: the server answers ``100 Continue`` only once the app has
            # started on the request and reads its body, so the request is surely in flight when
            # SIGTERM is sent (no guess at how long the server takes to get there).
            with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
                conn.sendall(head)
                interim = conn.recv(4096)
                result["interim"] = interim.split(b"\r\n", 1)[0]
                in_flight.set()
                signalled.wait(30)
                conn.sendall(body)
                reply = conn.makefile("rb")
                status = reply.readline().split()
                length = 0
                while (line := reply.readline().strip()) != b"":
                    name, _, value = line.partition(b":")
                    if name.lower() == b"content-length":
                        length = int(value)
                payload = reply.read(length)
                result["answered_at"] = time.monotonic()
                result["status"] = int(status[1])
                result["lines"] = len(json.loads(payload)["items"])

        sender = threading.Thread(target=post)
        sent_at = time.monotonic()
        sender.start()
        assert in_flight.wait(30), "no 100 Continue from the server"
        signalled_at = time.monotonic()
        server.send_signal(signal.SIGTERM)
        time.sleep(0.3)  # uvicorn notices the signal on its next tick (0.1 s) and stops accepting
        signalled.set()
        sender.join(60)
        answered_at = result.pop("answered_at")
        assert result == {"interim": b"HTTP/1.1 100 Continue", "status": 201, "lines": 20_000}
        assert answered_at > signalled_at, "the request was not in flight when SIGTERM arrived"
        took, after = answered_at - sent_at, answered_at - signalled_at
        report(f"graceful shutdown: a {took:.2f} s request finished {after:.2f} s after SIGTERM")
        # uvicorn re-raises the captured SIGTERM once its graceful shutdown is done.
        assert server.wait(30) in (0, -signal.SIGTERM)
        assert server.stderr is not None
        assert b"Traceback" not in server.stderr.read()
        # The server no longer accepts connections.
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            raise AssertionError("the server still answers after SIGTERM")
        except httpx.HTTPError:
            pass
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
