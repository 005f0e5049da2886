"""The demo's terminal host applications, shipped as package data: each sample model (samples/models) was
written against one of them. They run as separate processes, never imported by hostgate:

- ``mfhost.py``: the 3270 and 5250 host (mainframe-mocker, MIT; needs Python >= 3.12, so it runs under an
  interpreter of its own, e.g. a checkout's ``.venv-hosts``);
- ``vthost.py``: the VT host, a curses program served by ``telnetlib3-server --pty-exec``.

``hostgate testhost 3270|5250|vt`` starts the one a sample expects (cli/testhost_cmd.py); the tests start them
through tests/helpers/hosts.py.
"""
