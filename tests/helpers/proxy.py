"""A TCP relay on loopback that ends its connections the way a host can while staying up: politely (FIN, the
host closed its socket) or abruptly (RST, the host's stack reset it). Real sockets, one relay thread.

    with TcpRelay(host.port) as relay:                 # relay.port forwards to 127.0.0.1:host.port
        session = open_session(sample_spec("demo3270", relay.port))
        ...
        relay.end_all(reset=False)                     # FIN to every client; the host process lives on

The relay never closes the upstream side itself until it stops, so from the driver's point of view only the
"host" socket went away, exactly as when a host application calls close() on a live connection.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
from types import TracebackType
from typing import Self

__all__ = ["TcpRelay"]


class TcpRelay:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self._upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._pairs: dict[socket.socket, socket.socket] = {}  # both directions: sock -> its partner
        self._clients: list[socket.socket] = []
        self._commands: list[tuple[str, threading.Event, bool, bytes]] = []
        self._lock = threading.Lock()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="tcp-relay", daemon=True)

    def start(self) -> Self:
        self._selector.register(self._listener, selectors.EVENT_READ, "accept")
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._thread.start()
        return self

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._clients)

    def end_all(self, *, reset: bool = False, within: float = 10.0) -> None:
        """End every client connection: FIN (``reset=False``) or RST (``reset=True``); returns once done."""
        self._command("end", reset, b"", within)

    def inject(self, data: bytes, *, within: float = 10.0) -> None:
        """Send ``data`` to every client as if the host had sent it (a telnet NOP, say)."""
        self._command("inject", False, data, within)

    def _command(self, name: str, reset: bool, data: bytes, within: float) -> None:
        done = threading.Event()
        with self._lock:
            self._commands.append((name, done, reset, data))
        self._wake_w.send(b"x")
        if not done.wait(within):
            raise TimeoutError(f"the relay did not {name}")

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._stopping = True
        # The loop may end between the line above and the wake-up below: a thread already awake for traffic
        # (the client's FIN when the test has just disconnected) sees _stopping at its next turn, leaves, and
        # its finally block closes the pair, so the send gets EBADF (CI run 3 of note 19). The loop did not end
        # early: it ended on this stop(), and there is nothing left to wake.
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        self._thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- the relay thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stopping:
                for key, _ in self._selector.select():
                    if key.data == "accept":
                        self._accept()
                    elif key.data == "wake":
                        self._wake_r.recv(64)
                        self._run_commands()
                    elif isinstance(key.fileobj, socket.socket):
                        self._relay(key.fileobj)
        finally:
            for sock in list(self._pairs):
                self._drop(sock)
            self._selector.close()
            self._listener.close()
            self._wake_r.close()
            self._wake_w.close()

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        try:
            upstream = socket.create_connection(self._upstream, timeout=5)
        except OSError:
            client.close()
            return
        for sock in (client, upstream):
            sock.setblocking(False)
            self._selector.register(sock, selectors.EVENT_READ, "data")
        self._pairs[client], self._pairs[upstream] = upstream, client
        with self._lock:
            self._clients.append(client)

    def _relay(self, sock: socket.socket) -> None:
        partner = self._pairs.get(sock)
        if partner is None:
            return
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(sock)
            return
        with contextlib.suppress(OSError):
            partner.setblocking(True)
            partner.sendall(data)
            partner.setblocking(False)

    def _run_commands(self) -> None:
        with self._lock:
            commands, self._commands = self._commands, []
        for name, done, reset, data in commands:
            with self._lock:
                clients = list(self._clients)
                if name == "end":
                    self._clients = []
            for client in clients:
                if name == "inject":
                    with contextlib.suppress(OSError):
                        client.setblocking(True)
                        client.sendall(data)
                        client.setblocking(False)
                    continue
                if reset:
                    # SO_LINGER with a zero timeout makes close() send RST instead of FIN (socket(7)).
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self._forget(client)
                client.close()
            done.set()

    def _forget(self, sock: socket.socket) -> None:
        """Stop relaying ``sock``; its partner (the host side) stays open until the relay stops."""
        self._pairs.pop(sock, None)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(sock)

    def _drop(self, sock: socket.socket) -> None:
        partner = self._pairs.pop(sock, None)
        for one in (sock, partner):
            if one is None:
                continue
            self._pairs.pop(one, None)
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(one)
            one.close()
        with self._lock:
            self._clients = [c for c in self._clients if c is not sock and c is not partner]
