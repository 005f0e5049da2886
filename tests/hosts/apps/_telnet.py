"""The server side of a telnet connection for the refusing test hosts (tn3270_reject.py, tn5250_reject.py):
option negotiation as RFC 854/855 describe it, and a threaded loopback server that prints its port.

Standard library only: the hosts run under any Python 3.11+, outside hostgate.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import socketserver
from collections.abc import Callable

IAC, DONT, DO, WONT, WILL, SB, SE, EOR = 255, 254, 253, 252, 251, 250, 240, 239
BINARY, TERMINAL_TYPE, OPT_EOR = 0, 24, 25
TTYPE_IS, TTYPE_SEND = 0, 1


class Telnet:
    """The server side of one telnet connection: reads commands and sub-negotiations as they come."""

    def __init__(self, sock: socket.socket, known: set[int]) -> None:
        self.sock = sock
        self.known = known  # options this server negotiates; any other the client asks for is refused
        self.buffer = bytearray()
        self.commands: list[tuple[int, int]] = []  # (WILL/WONT/DO/DONT, option)
        self.subs: list[bytes] = []  # sub-negotiation bodies, IAC SB ... IAC SE stripped

    def send(self, *parts: bytes | int) -> None:
        self.sock.sendall(b"".join(bytes([p]) if isinstance(p, int) else p for p in parts))

    def _read(self) -> None:
        chunk = self.sock.recv(4096)
        if not chunk:
            raise ConnectionError("the client closed the connection during negotiation")
        self.buffer += chunk
        while True:
            at = self.buffer.find(IAC)
            if at < 0 or at + 1 >= len(self.buffer):
                return
            verb = self.buffer[at + 1]
            if verb in (WILL, WONT, DO, DONT):
                if at + 2 >= len(self.buffer):
                    return
                option = self.buffer[at + 2]
                del self.buffer[: at + 3]
                if option in self.known:
                    self.commands.append((verb, option))
                elif verb in (WILL, DO):  # RFC 854: refuse what we do not support, so nobody waits
                    self.send(IAC, DONT if verb == WILL else WONT, option)
            elif verb == SB:
                end = self.buffer.find(bytes([IAC, SE]), at)
                if end < 0:
                    return
                self.subs.append(bytes(self.buffer[at + 2 : end]).replace(b"\xff\xff", b"\xff"))
                del self.buffer[: end + 2]
            else:
                del self.buffer[: at + 2]

    def answer(self, option: int, verbs: tuple[int, ...]) -> int:
        """Wait for the client's answer (one of ``verbs``) about ``option``."""
        while True:
            for i, (verb, opt) in enumerate(self.commands):
                if opt == option and verb in verbs:
                    del self.commands[i]
                    return verb
            self._read()

    def sub(self, prefix: bytes) -> bytes:
        """Wait for a sub-negotiation that starts with ``prefix``."""
        while True:
            for i, body in enumerate(self.subs):
                if body.startswith(prefix):
                    del self.subs[i]
                    return body
            self._read()


def negotiate_binary_records(telnet: Telnet) -> str:
    """The classic block-mode start (RFC 1576 for 3270, RFC 1205 for 5250): the terminal type (RFC 1091), then
    end-of-record (RFC 885) and binary (RFC 856) both ways; returns the terminal type."""
    telnet.send(IAC, DO, TERMINAL_TYPE)
    if telnet.answer(TERMINAL_TYPE, (WILL, WONT)) == WONT:
        raise ConnectionError("the client will not say its terminal type")
    telnet.send(IAC, SB, TERMINAL_TYPE, TTYPE_SEND, IAC, SE)
    terminal = telnet.sub(bytes([TERMINAL_TYPE, TTYPE_IS]))[2:].decode("ascii", "replace")
    telnet.send(IAC, DO, OPT_EOR, IAC, WILL, OPT_EOR, IAC, DO, BINARY, IAC, WILL, BINARY)
    for option in (OPT_EOR, BINARY):
        if telnet.answer(option, (WILL, WONT)) == WONT or telnet.answer(option, (DO, DONT)) == DONT:
            raise ConnectionError("the client refused binary records (BINARY and EOR are required)")
    return terminal


def record(payload: bytes) -> bytes:
    """One record: data 0xFF bytes doubled, ended by IAC EOR (RFC 885)."""
    return payload.replace(b"\xff", b"\xff\xff") + bytes([IAC, EOR])


def hang_up(sock: socket.socket) -> None:
    """Half-close (FIN), read what the client still sends until it closes, then close: closing over unread
    bytes would make the kernel send RST, which can discard the last screen at the client."""
    sock.shutdown(socket.SHUT_WR)
    while sock.recv(4096):
        pass


Session = Callable[[socket.socket, argparse.Namespace], None]


def serve(session: Session, args: argparse.Namespace) -> None:
    """Serve ``session`` per connection on 127.0.0.1:``args.port`` (0: any), printing the port first."""

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            sock: socket.socket = self.request
            sock.settimeout(10)
            try:
                session(sock, args)
            except OSError as exc:
                print(f"event=connection_error error={exc!r}", flush=True)
            finally:
                with contextlib.suppress(OSError):
                    sock.close()

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    with Server(("127.0.0.1", args.port), Handler) as server:
        print(f"event=listening host=127.0.0.1 port={server.server_address[1]} tls=False", flush=True)
        server.serve_forever()
