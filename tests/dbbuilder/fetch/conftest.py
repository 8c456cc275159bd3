"""A local feed server on 127.0.0.1: static files with ETag and Range support, scripted failures, and an
emulation of the NVD CVE API 2.0 paging and lastMod filters."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

LAST_MODIFIED = "Sun, 29 Nov 2026 00:00:00 GMT"


def osv_zip(*ids: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for vuln_id in ids:
            record = {"id": vuln_id, "modified": "2026-11-01T00:00:00Z",
                      "affected": [{"package": {"ecosystem": "PyPI", "name": "demo"},
                                    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2"}]}]}]}
            archive.writestr(f"{vuln_id}.json", json.dumps(record))
    return buffer.getvalue()


def nvd_item(number: int, modified: str) -> dict[str, Any]:
    return {"cve": {"id": f"CVE-2026-{number:04d}", "published": "2026-01-01T00:00:00.000",
                    "lastModified": modified, "vulnStatus": "Analyzed",
                    "descriptions": [{"lang": "en", "value": f"flaw {number}"}]}}


@dataclass
class Scenario:
    files: dict[str, bytes] = field(default_factory=dict)
    failures: dict[str, list[int]] = field(default_factory=dict)  # path -> statuses to answer first
    truncate_once: dict[str, int] = field(default_factory=dict)  # path -> bytes to send before hanging up
    nvd_items: list[dict[str, Any]] = field(default_factory=list)
    log: list[tuple[str, dict[str, str], dict[str, str]]] = field(default_factory=list)

    def requests_for(self, path: str) -> list[tuple[dict[str, str], dict[str, str]]]:
        return [(query, headers) for p, query, headers in self.log if p == path]


class Handler(BaseHTTPRequestHandler):
    scenario: Scenario

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.scenario.log.append((parts.path, query, dict(self.headers.items())))
        pending = self.scenario.failures.get(parts.path)
        if pending:
            status = pending.pop(0)
            self._send(status, b"try later", {"Retry-After": "3"} if status == 429 else None)
            return
        if parts.path == "/nvd":
            self._nvd(query)
            return
        body = self.scenario.files.get(parts.path)
        if body is None:
            self._send(404, b"not found")
            return
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        validators = {"ETag": etag, "Last-Modified": LAST_MODIFIED}
        if self.headers.get("If-None-Match") == etag:
            self._send(304, b"", validators)
            return
        start = 0
        ranged = self.headers.get("Range", "")
        if ranged.startswith("bytes=") and self.headers.get("If-Range") in (etag, LAST_MODIFIED):
            start = int(ranged[6:].rstrip("-"))
        cut = self.scenario.truncate_once.pop(parts.path, None)
        if cut is not None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            for key, value in validators.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        if start:
            self._send(206, body[start:], {**validators, "Content-Range": f"bytes {start}-{len(body) - 1}/{len(body)}"})
        else:
            self._send(200, body, validators)

    def _nvd(self, query: dict[str, str]) -> None:
        items = self.scenario.nvd_items
        if "lastModStartDate" in query:
            low = datetime.fromisoformat(query["lastModStartDate"])
            high = datetime.fromisoformat(query["lastModEndDate"])
            items = [i for i in items if low <= datetime.fromisoformat(i["cve"]["lastModified"] + "+00:00") <= high]
        start, size = int(query.get("startIndex", 0)), int(query["resultsPerPage"])
        page = {"resultsPerPage": len(items[start:start + size]), "startIndex": start, "totalResults": len(items),
                "format": "NVD_CVE", "version": "2.0", "timestamp": "2026-11-29T00:00:00.000",
                "vulnerabilities": items[start:start + size]}
        self._send(200, json.dumps(page).encode(), {"Content-Type": "application/json"})


@dataclass
class FeedServer:
    url: str
    scenario: Scenario


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    scenario = Scenario()
    handler = type("ScenarioHandler", (Handler,), {"scenario": scenario})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield FeedServer(f"http://127.0.0.1:{server.server_address[1]}", scenario)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class FakeTime:
    """A clock that only moves when something sleeps: rate limits and backoff without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def no_distro_sources(*keep: str) -> list[str]:
    """`--no-NAME` for every registered fetch source on by default except `keep`: a test fetches only what it
    serves (an opt-in source has no `--no-NAME`)."""
    from dbbuilder.fetch import SOURCES

    return [f"--no-{name}" for name, source in SOURCES.items() if name not in keep and source.on_by_default]
