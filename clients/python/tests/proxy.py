"""A loopback TCP forwarder whose connections a test can cut, to show that
streams resume after a network failure."""

import socket
import threading


class Proxy:
    def __init__(self, target: str, cut_after: int = 0) -> None:
        """With cut_after, the first connection is cut once that many bytes
        went from the target to the client, wherever the stream is then."""
        self.cut_after = cut_after
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = "127.0.0.1:%d" % self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.conns = []
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.conns += [client, upstream]
            for a, b, limit in ((client, upstream, 0), (upstream, client, self.cut_after)):
                threading.Thread(target=self._pipe, args=(a, b, limit), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, limit: int) -> None:
        sent = 0
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if limit and self.cuts == 0 and sent + len(data) >= limit:
                    dst.sendall(data[:limit - sent])
                    self.cut()
                    break
                sent += len(data)
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        """Breaks every open connection, as a network failure would."""
        with self.lock:
            conns, self.conns = self.conns, []
            self.cuts += 1
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        self.listener.close()
        self.cut()
