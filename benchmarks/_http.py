"""A lean HTTP/1.1 client for latency rounds: GET over one keep-alive connection, almost no client-side work.

httpx spends ~1 ms of Python per request building and parsing; on a 2-CPU machine that CPU is taken from
the service and PostgreSQL and lands in every figure. This client writes the request bytes and reads the
status line, the headers and a Content-Length body — enough for our services' JSON answers (uvicorn sends
Content-Length for them; anything else is an error here, not a guess).
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode, urlsplit


class LeanClient:
    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> LeanClient:
        self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._writer is not None:
            self._writer.close()
            await self._writer.wait_closed()

    async def get(self, path: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, bytes]:
        assert self._reader is not None and self._writer is not None, "use `async with LeanClient(...)`"
        target = f"{path}?{urlencode(params)}" if params else path
        lines = [f"GET {target} HTTP/1.1", f"Host: {headers.get('Host', self._host)}"]
        lines += [f"{name}: {value}" for name, value in headers.items() if name.lower() != "host"]
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = await self._reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        length = None
        for line in header_lines:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if length is None:
            raise RuntimeError(f"GET {path}: answer without Content-Length ({status})")
        return status, await self._reader.readexactly(length)
