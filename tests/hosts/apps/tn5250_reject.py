"""A TN5250 server that refuses every session the way an IBM i does when it cannot give a display device: it
negotiates, shows one 5250 screen with a message, leaves the keyboard locked, and closes the connection.

    python tests/hosts/apps/tn5250_reject.py --port 0 --message "CPF1110 DEVICE NOT AVAILABLE"

Built to the protocol (standard library only, loopback only):

- RFC 1205 §2 negotiation: ``DO TERMINAL-TYPE`` and ``SB TERMINAL-TYPE SEND`` (RFC 1091), then ``DO/WILL EOR``
  (RFC 885) and ``DO/WILL BINARY`` (RFC 856). Options it does not implement (the TN5250E and NEW-ENVIRON
  extensions of RFC 4777) are refused with WONT/DONT, as RFC 854 asks, so a client falls back to plain
  TN5250.
- Each record carries the RFC 1205 §3 header: record length, record type 0x12A0 (General Data Stream),
  reserved, variable-header length 4, flags, opcode (here 0x02, Output Only: no input is invited).
- The 5250 data: Clear Unit, then Write To Display with CC2 = 0 (no "unlock keyboard" bit, 5494 Functions
  Reference, SC30-3533: CC2 x'08'), SBA orders and EBCDIC text (code page 037) between display attributes.
- Then the server half-closes (FIN), reads until the client closes, and closes (see ``_telnet.hang_up``).

Prints ``event=listening host=127.0.0.1 port=N tls=False`` once it listens.
"""

from __future__ import annotations

import argparse
import socket
import sys

from _telnet import Telnet, hang_up, negotiate_binary_records, record, serve

GDS = 0x12A0  # RFC 1205 §3: record type "General Data Stream"
OPCODE_OUTPUT_ONLY = 0x02
ESC, CLEAR_UNIT, WTD, SBA = 0x04, 0x40, 0x11, 0x11
CC1_NONE, CC2_KEEP_LOCKED = 0x00, 0x00
ATTR_NORMAL, ATTR_HIGH = 0x20, 0x22


def gds(payload: bytes, opcode: int = OPCODE_OUTPUT_ONLY) -> bytes:
    """The 10-byte RFC 1205 header (length includes it), then the 5250 data."""
    header = (10 + len(payload)).to_bytes(2, "big") + GDS.to_bytes(2, "big") + b"\x00\x00"
    return header + bytes([4, 0, 0, opcode]) + payload


def screen(title: str, message: str) -> bytes:
    data = bytearray([ESC, CLEAR_UNIT, ESC, WTD, CC1_NONE, CC2_KEEP_LOCKED])
    for row, col, attr, text in ((1, 2, ATTR_NORMAL, title), (10, 2, ATTR_HIGH, message)):
        # The attribute byte takes the cell before the text; the trailing one ends the highlight.
        data += bytes([SBA, row, col - 1, attr]) + text.encode("cp037") + bytes([ATTR_NORMAL])
    return bytes(data)


def session(sock: socket.socket, args: argparse.Namespace) -> None:
    negotiate_binary_records(Telnet(sock, known={0, 24, 25}))
    sock.sendall(record(gds(screen(args.title, args.message))))
    hang_up(sock)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--title", default="HGREJECT")
    parser.add_argument("--message", default="CPF1110 DEVICE NOT AVAILABLE")
    serve(session, parser.parse_args(sys.argv[1:]))
