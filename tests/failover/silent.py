"""A loopback TCP proxy in front of a PostgreSQL that can go silent: :meth:`SilentProxy.freeze`
stops forwarding in both directions while every connection stays open and new ones are still
accepted, which is what a hung host, a partition or a SIGSTOPped server looks like to a client."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading

from tests.stress.harness import free_port


class SilentProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.frozen = threading.Event()
        self._halt = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.setblocking(False)
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SilentProxy:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._halt.set()
        self._thread.join(5)
        for sock in [self._listener, *self._sockets]:
            sock.close()

    def freeze(self) -> None:
        self.frozen.set()

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ, None)
        silenced = False
        while not self._halt.is_set():
            if self.frozen.is_set() and not silenced:
                # Nothing read any more: the kernel's buffers fill and stay full, nothing is closed.
                for key in list(selector.get_map().values()):
                    if key.data is not None:
                        selector.unregister(key.fileobj)
                silenced = True
            for key, _mask in selector.select(0.05):
                if key.data is None:
                    client, _addr = self._listener.accept()
                    self._sockets.append(client)
                    if self.frozen.is_set():
                        continue  # accepted by the kernel, never answered
                    server = socket.create_connection(self.target)
                    self._sockets.append(server)
                    selector.register(client, selectors.EVENT_READ, server)
                    selector.register(server, selectors.EVENT_READ, client)
                    continue
                source: socket.socket = key.fileobj  # type: ignore[assignment]
                data = b""
                with contextlib.suppress(OSError):
                    data = source.recv(65536)
                if not data:
                    selector.unregister(source)
                    with contextlib.suppress(KeyError, ValueError):
                        selector.unregister(key.data)
                    source.close()
                    key.data.close()
                    continue
                key.data.sendall(data)
