"""A character-mode host program that refuses the session: it prints one message and exits, so the telnet
server (``telnetlib3-server --pty-exec``) closes the connection, as a host does when it has no session left:

    telnetlib3-server 127.0.0.1 PORT --pty-exec PYTHON -- tests/hosts/apps/vt_reject.py "NO SESSIONS AVAILABLE"
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    message = sys.argv[1] if len(sys.argv) > 1 else "NO SESSIONS AVAILABLE"
    # Clear the screen and home the cursor first, as a full-screen host application does.
    sys.stdout.write("\x1b[H\x1b[2J" + message + "\r\n")
    sys.stdout.flush()
