"""Loopback servers tests point the monitoring sinks at: HTTPS with a trustme CA (azure-core refuses tokens over
plain http), and a recorder for what they receive."""

from __future__ import annotations

import gzip
import json
import ssl
from collections.abc import Iterator
from contextlib import contextmanager

import trustme
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response


@contextmanager
def tls_httpserver() -> Iterator[tuple[HTTPServer, str]]:
    """A started loopback HTTPS server with a certificate for 127.0.0.1, and the path of the CA that signed it."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with ca.cert_pem.tempfile() as ca_path:
        server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context, threaded=True)
        server.start()
        try:
            yield server, ca_path
        finally:
            if server.is_running():
                server.stop()


class Recorder:
    """A handler that remembers each request's path and JSON body (gunzipped when needed) and answers `status`."""

    def __init__(self, status: int = 204) -> None:
        self.status = status
        self.received: list[tuple[str, object]] = []

    def __call__(self, request: Request) -> Response:
        data = request.get_data()
        if request.headers.get("Content-Encoding") == "gzip":
            data = gzip.decompress(data)
        self.received.append((request.path, json.loads(data) if data else None))
        return Response(status=self.status)
