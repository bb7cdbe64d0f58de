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

from app.db.migrate import upgrade
from tests.api_helpers import ADMIN, bill_1, register_hospitals, sample_hospitals
from tests.conftest import ADMIN_TOKEN
from tests.figures import report


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
        headers = {**ADMIN, "Content-Type": "application/json"}

        def post() -> None:
            r = httpx.post(f"{base}/v1/bills", content=body, headers=headers, timeout=60)
            result["answered_at"] = time.monotonic()
            result["status"] = r.status_code
            result["lines"] = len(r.json()["items"])

        sender = threading.Thread(target=post)
        sent_at = time.monotonic()
        sender.start()
        time.sleep(0.15)  # the 20,000-line bill (about 0.4 s of work here) is being parsed and validated
        signalled_at = time.monotonic()
        server.send_signal(signal.SIGTERM)
        sender.join(60)
        answered_at = result.pop("answered_at")
        assert result == {"status": 201, "lines": 20_000}
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
