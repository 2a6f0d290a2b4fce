"""A small ASGI app served for real on 127.0.0.1, in the test's own event loop.

The doubles of other systems (a platform's JWKS, a webhook receiver, the CDB)
are Starlette apps; :func:`serve_app` puts one on a socket bound to a free port
before uvicorn starts (no race for the port) and stops it afterwards. Being
in-process, a test can change the double's state while clients talk to it
over real sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn

START_TIMEOUT_S = 10.0


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.asynccontextmanager
async def serve_app(app: Any, *, sock: socket.socket | None = None) -> AsyncIterator[str]:
    """Serve ``app``; yields its base URL (``http://127.0.0.1:PORT``).

    ``sock`` reuses a bound socket (a restart on the same port)."""
    sock = sock or free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", lifespan="off", loop="asyncio", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"double-{port}")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT_S
    while not server.started:
        if task.done():
            await task
            raise AssertionError("the double stopped during start-up")
        if loop.time() > deadline:
            raise AssertionError("the double did not start")
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
