"""HTTP front of the emulator: AWS JSON 1.0 on ``/`` and the control plane on ``/_emulator/``."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ccapi_emulator.backend import EmulatorBackend
from ccapi_emulator.config import EmulatorConfig
from ccapi_emulator.errors import ApiError
from ccapi_emulator.lifecycle import Lifecycle

logger = logging.getLogger("ccapi_emulator")

TARGET_PREFIX = "CloudApiService."
JSON_CONTENT_TYPE = "application/x-amz-json-1.0"


class _HTTPServer(ThreadingHTTPServer):
    """A thread per connection, each tracked so that stop() can close and join them all."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], backend: EmulatorBackend) -> None:
        super().__init__(address, _Handler)
        self.backend = backend
        self._connections: dict[threading.Thread, socket.socket] = {}
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        worker = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name="ccapi-emulator-connection",
            daemon=True,
        )
        with self._connections_lock:
            self._connections[worker] = request
        worker.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._connections_lock:
                self._connections.pop(threading.current_thread(), None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("connection from %s ended with an error", client_address, exc_info=True)

    def close_connections(self, timeout: float) -> None:
        """Hang up on every client (idle keep-alive ones too) and wait for their threads."""
        with self._connections_lock:
            open_connections = list(self._connections.items())
        for _, connection in open_connections:
            with contextlib.suppress(OSError):  # the client may have hung up first
                connection.shutdown(socket.SHUT_RDWR)
        for worker, _ in open_connections:
            worker.join(timeout)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.client_address[0], format % args)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/_emulator/state":
            query = parse_qs(url.query)
            include = query.get("requests", ["true"])[0].lower() not in ("0", "false", "no")
            self._send(
                200,
                self.server.backend.snapshot(include_requests=include).to_dict(
                    include_requests=include
                ),
            )
        elif url.path == "/_emulator/cloudtrail":
            self._send(200, {"events": self.server.backend.cloudtrail_events()})
        else:
            self._send(404, {"error": f"no such path {url.path}"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        if path.startswith("/_emulator/"):
            self._control(path, body)
        else:
            self._api(body)

    def _api(self, body: bytes) -> None:
        target = self.headers.get("X-Amz-Target", "")
        try:
            if not target.startswith(TARGET_PREFIX):
                raise ApiError("UnknownOperationException", f"Unknown target {target!r}")
            try:
                params = json.loads(body or b"{}")
            except ValueError:
                raise ApiError("SerializationException", "Request body is not valid JSON") from None
            result = self.server.backend.call(
                target.removeprefix(TARGET_PREFIX),
                params,
                user_agent=self.headers.get("User-Agent"),
            )
        except ApiError as error:
            self._send(error.status, error.body(), {"x-amzn-ErrorType": error.code})
            return
        except Exception:  # the server must answer even when the emulator has a bug
            logger.exception("emulator failed on %s", target)
            failure = ApiError("InternalFailure", "The emulator failed; see its log", 500)
            self._send(500, failure.body(), {"x-amzn-ErrorType": failure.code})
            return
        self._send(200, result)

    def _control(self, path: str, body: bytes) -> None:
        backend = self.server.backend
        try:
            params = json.loads(body or b"{}")
            if not isinstance(params, dict):
                raise TypeError("the body must be a JSON object")
            if path == "/_emulator/seed":
                if "lifecycle" in params:
                    params["lifecycle"] = Lifecycle.from_dict(params["lifecycle"])
                self._send(200, {"tokens": backend.seed(**params)})
            elif path == "/_emulator/clock":
                now = backend.clock.advance(float(params.get("advance_seconds", 0)))
                self._send(200, {"now": now, "manual": backend.clock.manual})
            elif path == "/_emulator/config":
                for pattern, lifecycle in (params.pop("lifecycles", None) or {}).items():
                    backend.set_lifecycle(
                        pattern, None if lifecycle is None else Lifecycle.from_dict(lifecycle)
                    )
                backend.configure(**params)
                self._send(200, backend.snapshot(include_requests=False).config)
            elif path == "/_emulator/reset":
                backend.reset()
                self._send(200, {"reset": True})
            else:
                self._send(404, {"error": f"no such path {path}"})
        except (ValueError, TypeError) as error:
            self._send(400, {"error": str(error)})

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", JSON_CONTENT_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class EmulatorServer:
    """The emulator on ``host:port`` (port 0: any free port), in a background thread.

    Use as a context manager, or call start() and stop(). stop() closes every client connection
    and joins every thread the server started.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        config: EmulatorConfig | None = None,
        backend: EmulatorBackend | None = None,
    ) -> None:
        self.host = host
        self.backend = backend or EmulatorBackend(config)
        self._requested_port = port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the emulator is not running")
        return int(self._httpd.server_address[1])

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> EmulatorServer:
        if self._httpd is not None:
            raise RuntimeError("the emulator is already running")
        self._httpd = _HTTPServer((self.host, self._requested_port), self.backend)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="ccapi-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        httpd.shutdown()
        thread.join(timeout)
        httpd.close_connections(timeout)
        httpd.server_close()
        self._httpd = self._thread = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
