"""Real servers on 127.0.0.1 for the tests: a free port, a folder over HTTP, an MJPEG stream.
They never contact anything outside the machine."""

import functools
import http.server
import socket
import threading
import time


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FileServer:
    """``folder`` served over HTTP at :attr:`url` (``http://127.0.0.1:PORT/``); the path of each
    request it logged (errors included) is appended to :attr:`requests`."""

    def __init__(self, folder):
        self.requests = []
        requests = self.requests

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, fmt, *args):
                requests.append(self.path)

        handler = functools.partial(Handler, directory=str(folder))
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _RestartableServer(http.server.ThreadingHTTPServer):
    allow_reuse_address = True  # a restart binds the same port at once
    daemon_threads = True


class MjpegServer:
    """Serves one BGR ``frame`` as ``/stream.mjpg`` (multipart/x-mixed-replace JPEG) at ``fps``.
    ``stop()`` ends every open stream and closes the port; ``start()`` serves on it again."""

    def __init__(self, frame, fps=15.0):
        import cv2

        self.jpeg = cv2.imencode(".jpg", frame)[1].tobytes()
        self.port, self.fps = 0, fps
        self._server, self._live = None, threading.Event()

    def start(self):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                part = (
                    b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                    + str(len(outer.jpeg)).encode()
                    + b"\r\n\r\n"
                    + outer.jpeg
                    + b"\r\n"
                )
                try:
                    while outer._live.is_set():
                        self.wfile.write(part)
                        time.sleep(1 / outer.fps)
                except OSError:
                    pass  # the client went away

        self._server = _RestartableServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]  # the same port after a restart
        self._live.set()
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def stop(self):
        self._live.clear()
        self._server.shutdown()
        self._server.server_close()
