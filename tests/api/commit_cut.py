"""A TCP proxy in front of PostgreSQL that loses a connection at the commit of the transaction
inserting a call: the fault `Database.write_retrying(landed=...)` resolves, on a real server.

`deliver=True`: the COMMIT reaches the server, which commits, but its answer never reaches the
client (a network cut after the commit); with `wait=False` the cut does not wait for the server
to finish committing, so the client learns of it while the commit may still be in flight.
`deliver=False`: the COMMIT never reaches the server,
which rolls the transaction back when the connection closes. The client sees the same lost
connection either way. Only the first such commit is cut; everything else is relayed.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from sqlalchemy.engine import make_url

#: What marks the transaction to cut and its commit, in the client's bytes (libpq sends each
#: statement's messages in one write).
INSERT = b"INSERT INTO calls "
COMMIT = b"COMMIT"


class CommitCut:
    def __init__(self, url: str, *, deliver: bool, wait: bool = True) -> None:
        parsed = make_url(url)
        self._upstream = (parsed.host or "127.0.0.1", parsed.port or 5432)
        self._deliver = deliver
        self._wait = wait
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = parsed.set(
            port=self._listener.getsockname()[1], query={"sslmode": "disable"}
        ).render_as_string(hide_password=False)
        self.cut = threading.Event()
        self.committed_upstream = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._upstream)
            threading.Thread(target=self._client_side, args=(client, server), daemon=True).start()

    def _client_side(self, client: socket.socket, server: socket.socket) -> None:
        muted = threading.Event()
        threading.Thread(target=self._server_side, args=(server, client, muted), daemon=True).start()
        armed = False
        try:
            while data := client.recv(65536):
                armed = armed or INSERT in data
                if armed and COMMIT in data and not self.cut.is_set():
                    self.cut.set()
                    if self._deliver:
                        muted.set()  # the server's answer is dropped from here on
                        server.sendall(data)
                        if self._wait:
                            self.committed_upstream.wait(10)
                    break
                server.sendall(data)
        except OSError:
            pass
        for end in (client, server):
            _close(end)

    def _server_side(self, server: socket.socket, client: socket.socket, muted: threading.Event) -> None:
        try:
            while data := server.recv(65536):
                if muted.is_set():
                    if COMMIT in data:
                        self.committed_upstream.set()
                    continue
                client.sendall(data)
        except OSError:
            pass
        _close(client)


def _close(end: socket.socket) -> None:
    with contextlib.suppress(OSError):  # the other side may have closed it already
        end.shutdown(socket.SHUT_RDWR)
    end.close()
