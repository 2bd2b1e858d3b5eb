"""A lean HTTP/1.1 keep-alive client for the booking rush (the load generator shares the cores).

httpx costs about a millisecond of CPU per request, as much as the server's refusal path; this
client writes the request bytes itself and reads the answer by its Content-Length (or chunks), on
a fixed set of persistent connections, so the measured time is the server's.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit


class Connection:
    """One persistent HTTP/1.1 connection (reopened when the server closes it)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Connect unless connected; return the streams."""
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self.reader, self.writer

    def close(self) -> None:
        """Drop the socket."""
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """Send one request; return (status, body)."""
        reader, writer = await self.open()
        writer.write(request)
        head = (await reader.readuntil(b"\r\n\r\n")).lower()
        status = int(head[9:12])
        length = head.find(b"\r\ncontent-length:")
        if length >= 0:
            end = head.index(b"\r\n", length + 2)
            body = await reader.readexactly(int(head[length + 17:end]))
        elif b"transfer-encoding: chunked" in head:
            body = await _chunks(reader)
        else:
            body = await reader.read()
            self.close()
        if b"\r\nconnection: close" in head:
            self.close()
        return status, body


async def _chunks(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        parts.append(await reader.readexactly(size + 2))
        if size == 0:
            return b"".join(parts)[:-2]


class Client:
    """``size`` persistent connections to one base URL; each serves one simulated client."""

    def __init__(self, base: str, size: int, headers: dict[str, str]) -> None:
        url = urlsplit(base)
        self.prefix = url.path.rstrip("/")
        self.host_header = f"{url.hostname}:{url.port}"
        self.headers = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.connections = [Connection(url.hostname or "127.0.0.1", url.port or 80)
                            for _ in range(size)]

    def request(self, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | None = None) -> bytes:
        """Return the bytes of a request (extra headers override nothing; they are added)."""
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        return (f"{method} {self.prefix}{path} HTTP/1.1\r\nHost: {self.host_header}\r\n"
                f"{self.headers}{extra}Content-Length: {len(body)}\r\n\r\n").encode() + body

    async def open_all(self) -> None:
        """Connect every connection now (as a reverse proxy keeps its upstream ones)."""
        await asyncio.gather(*(conn.open() for conn in self.connections))

    def close(self) -> None:
        """Close every connection."""
        for conn in self.connections:
            conn.close()
