"""uvicorn's HTTP/1.1 connection with a deadline for receiving each request.

uvicorn times out an idle keep-alive connection only after it has answered a
request: a connection that opens and sends nothing, or sends half a request
line, half the headers or half a body, is kept open for ever, and a few
thousand of them hold the process's file descriptors (slowloris). Here every
request must arrive whole (request line, headers and body) within
``limits.http_request_timeout_s`` of its first byte, or of the connection's
opening for the first request; otherwise the server answers ``408 Request
Timeout`` (when it has not started a response) and closes the connection.
A request that arrived whole is not timed: the application takes the time it
needs, and a WebSocket upgrade leaves this protocol altogether.

Kept as a thin subclass of uvicorn's own h11 protocol (the HTTP parsing stays
uvicorn's and h11's); only the timer is ours.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

_TIMEOUT_BODY = (
    b'{"type":"https://underbid.dev/problems/request_timeout","title":"request timeout",'
    b'"status":408,"code":"request_timeout","detail":"the request did not arrive in time"}'
)
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: application/problem+json\r\n"
    b"connection: close\r\n"
    b"content-length: %d\r\n\r\n%s" % (len(_TIMEOUT_BODY), _TIMEOUT_BODY)
)


class TimedH11Protocol(H11Protocol):
    """An HTTP connection whose requests must arrive within ``request_timeout_s``."""

    request_timeout_s: float = 10.0
    """Set per server by :func:`http_protocol`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._request_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._request_timer is None and self._between_requests():
            self._arm()  # the first byte of the next request on a kept-alive connection
        super().data_received(data)
        if self._request_timer is not None and self._request_in():
            self._disarm()

    def _between_requests(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _request_in(self) -> bool:
        """The current request arrived whole (or the connection left HTTP)."""
        if self.transport.get_protocol() is not self:
            return True  # upgraded to a WebSocket
        cycle = self.cycle
        return cycle is not None and not cycle.response_complete and not cycle.more_body

    def _arm(self) -> None:
        self._disarm()
        self._request_timer = self.loop.call_later(self.request_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self._request_timer is not None:
            self._request_timer.cancel()
            self._request_timer = None

    def _too_slow(self) -> None:
        self._request_timer = None
        if self.transport.is_closing() or self._request_in():
            return
        if self.cycle is None or not self.cycle.response_started:
            self.transport.write(_TIMEOUT_RESPONSE)
        self.transport.close()


def http_protocol(request_timeout_s: float) -> type[TimedH11Protocol]:
    """The protocol class uvicorn builds for each HTTP connection."""
    return type("GatewayHttp", (TimedH11Protocol,), {"request_timeout_s": request_timeout_s})
