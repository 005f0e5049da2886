"""A TN3270 server that refuses every session the way a real one does when it has no terminal (LU) left: it
negotiates, shows one 3270 screen with a message, leaves the keyboard locked, and closes the connection.

    python tests/hosts/apps/tn3270_reject.py --port 0 --message "NO AVAILABLE DEVICE"

Built to the protocol, not to one client (standard library only, loopback only):

- Telnet option negotiation (RFC 854/855). The server offers TN3270E first (``DO TN3270E``, RFC 2355 §7), as
  z/OS Communications Server does. A client that answers ``WONT`` gets traditional TN3270 (RFC 1576 §2):
  ``DO TERMINAL-TYPE``, ``SB TERMINAL-TYPE SEND`` (RFC 1091), then ``DO/WILL EOR`` (RFC 885) and
  ``DO/WILL BINARY`` (RFC 856), waiting for each answer before it relies on it. A client that answers ``WILL``
  gets TN3270E: ``SEND DEVICE-TYPE``, ``DEVICE-TYPE IS <type> CONNECT <device>``, and the FUNCTIONS exchange
  (the server keeps only functions it honours, §7.2); records then carry the 5-byte TN3270E header
  (3270-DATA, no response requested, §8). In both modes records end with ``IAC EOR`` and data 0xFF bytes are doubled.
- The screen is one Erase/Write with a WCC that does not restore the keyboard (3270 Data Stream Programmer's
  Reference, GA23-0059: WCC bit 6), so a client waiting for the keyboard to unlock only sees the close.
  Text is EBCDIC (code page 037), placed with SBA/SF orders and 12-bit buffer addresses.
- Then the server half-closes (FIN), reads whatever the client still sends until it closes (so the kernel
  sends no RST over unread bytes, which could discard the screen at the client), and closes.

Prints ``event=listening host=127.0.0.1 port=N tls=False`` once it listens (the test helpers wait for it).
"""

from __future__ import annotations

import argparse
import socket
import sys

from _telnet import DO, IAC, SB, SE, WILL, WONT, Telnet, hang_up, negotiate_binary_records, record, serve

TN3270E = 40
# RFC 2355 §3: TN3270E sub-negotiation codes.
E_CONNECT, E_DEVICE_TYPE, E_FUNCTIONS, E_IS, E_REQUEST, E_SEND = 1, 2, 3, 4, 7, 8
# Functions this server can keep: RESPONSES (2; it never asks for one) and SYSREQ (4). Not BIND-IMAGE (0): a
# client that agreed to it treats 3270-DATA before a BIND as out of session ("connected-unbound").
FUNCTIONS_HONOURED = {2, 4}

ERASE_WRITE = 0xF5  # the EBCDIC-form command code, as sent by VTAM applications
WCC_RESET_MDT = 0xC1  # reset + reset MDT; no keyboard restore (bit 6, 0x02), no alarm
SBA, SF = 0x11, 0x1D
ATTR_PROTECTED, ATTR_PROTECTED_BRIGHT = 0x20, 0x28
# The 6-bit code table (GA23-0059 "Buffer Address" and "Field Attribute" encodings).
CODES = bytes.fromhex(
    "40c1c2c3c4c5c6c7c8c94a4b4c4d4e4f50d1d2d3d4d5d6d7d8d95a5b5c5d5e5f"
    "6061e2e3e4e5e6e7e8e96a6b6c6d6e6ff0f1f2f3f4f5f6f7f8f97a7b7c7d7e7f"
)
COLS = 80


def address(row: int, col: int) -> bytes:
    at = (row - 1) * COLS + col - 1
    return bytes([CODES[at >> 6], CODES[at & 0x3F]])


def screen(title: str, message: str) -> bytes:
    """Erase/Write, keyboard left locked: the title on row 1 and the message on row 10, both protected."""
    data = bytearray([ERASE_WRITE, WCC_RESET_MDT])
    for row, col, attr, text in ((1, 2, ATTR_PROTECTED, title), (10, 2, ATTR_PROTECTED_BRIGHT, message)):
        data += bytes([SBA]) + address(row, col - 1) + bytes([SF, CODES[attr]]) + text.encode("cp037")
    return bytes(data)


def negotiate(telnet: Telnet) -> bool:
    """Negotiate a 3270 session; True for TN3270E (records need the header)."""
    telnet.send(IAC, DO, TN3270E)
    if telnet.answer(TN3270E, (WILL, WONT)) == WONT:
        negotiate_binary_records(telnet)
        return False
    telnet.send(IAC, SB, TN3270E, E_SEND, E_DEVICE_TYPE, IAC, SE)
    request = telnet.sub(bytes([TN3270E, E_DEVICE_TYPE, E_REQUEST]))
    device_type = request[3:].split(bytes([E_CONNECT]))[0]
    telnet.send(IAC, SB, TN3270E, E_DEVICE_TYPE, E_IS, device_type, E_CONNECT, b"HGLU0001", IAC, SE)
    requested = telnet.sub(bytes([TN3270E, E_FUNCTIONS, E_REQUEST]))[3:]
    agreed = bytes(f for f in requested if f in FUNCTIONS_HONOURED)
    if agreed == requested:
        telnet.send(IAC, SB, TN3270E, E_FUNCTIONS, E_IS, agreed, IAC, SE)
    else:  # §7.2: propose the subset; the client confirms it with FUNCTIONS IS
        telnet.send(IAC, SB, TN3270E, E_FUNCTIONS, E_REQUEST, agreed, IAC, SE)
        telnet.sub(bytes([TN3270E, E_FUNCTIONS, E_IS]))
    return True


def session(sock: socket.socket, args: argparse.Namespace) -> None:
    tn3270e = negotiate(Telnet(sock, known={0, 24, 25, TN3270E}))
    payload = screen(args.title, args.message)
    if tn3270e:
        payload = bytes([0, 0, 0, 0, 0]) + payload  # 3270-DATA, no response, sequence 0 (§8.1)
    sock.sendall(record(payload))
    hang_up(sock)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--title", default="HGREJECT")
    parser.add_argument("--message", default="NO AVAILABLE DEVICE")
    serve(session, parser.parse_args(sys.argv[1:]))
