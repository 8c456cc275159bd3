"""A small HTTP client for feed downloads: rate limit, retries with backoff, resumable downloads.

Standard library only (urllib): dbbuilder runs on the connected side, but the fewer moving parts the
easier it is to audit what it sends. Every failure ends as one FeedError naming the URL.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanner import __version__
from scanner.errors import FeedError

# 403 is in the list because NVD answers rate-limited clients with 403, not only 429.
RETRY_STATUSES = frozenset({403, 429, 500, 502, 503, 504})
CHUNK_BYTES = 1024 * 1024
MAX_BACKOFF_SECONDS = 120.0
MAX_JSON_BYTES = 512 * 1024 * 1024
PART_SUFFIX = ".part"
PART_META_SUFFIX = ".part.json"


class NotFoundError(FeedError):
    """The server has no such file (HTTP 404 or 410): never retried."""


@dataclass(frozen=True)
class Validators:
    """What a server said identifies a version of a file, for conditional and resumed requests."""

    etag: str | None = None
    last_modified: str | None = None

    def to_json(self) -> dict[str, str]:
        return {k: v for k, v in (("etag", self.etag), ("last_modified", self.last_modified)) if v}

    @classmethod
    def from_json(cls, data: object) -> Validators:
        if not isinstance(data, dict):
            return cls()
        etag, modified = data.get("etag"), data.get("last_modified")
        return cls(etag if isinstance(etag, str) else None, modified if isinstance(modified, str) else None)


@dataclass(frozen=True)
class Download:
    path: Path
    changed: bool  # False: the server said 304 Not Modified and the file was left as it was
    validators: Validators
    size: int


def _read_json_file(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return None


@dataclass
class HttpClient:
    """Requests are spaced at least `min_interval` seconds apart (the API's rate limit), and each failed
    attempt with a retryable status or a network error waits `backoff * 2**attempt` seconds (or the
    server's Retry-After) before trying again, at most `retries` times."""

    min_interval: float = 0.0
    retries: int = 5
    backoff: float = 2.0
    timeout: float = 60.0
    headers: Mapping[str, str] = field(default_factory=dict)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    requests_made: int = 0
    _last_request: float | None = None

    def _wait_turn(self) -> None:
        if self._last_request is not None:
            remaining = self._last_request + self.min_interval - self.clock()
            if remaining > 0:
                self.sleep(remaining)
        self._last_request = self.clock()
        self.requests_made += 1

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after and retry_after.strip().isascii() and retry_after.strip().isdigit():
            return min(float(retry_after.strip()), MAX_BACKOFF_SECONDS)
        return min(self.backoff * 2.0**attempt, MAX_BACKOFF_SECONDS)

    def _attempts(self, url: str, operation: Callable[[], Any]) -> Any:
        """Run `operation` (one HTTP exchange) with the retry policy; FeedError when it gives up."""
        for attempt in range(self.retries + 1):
            self._wait_turn()
            try:
                return operation()
            except urllib.error.HTTPError as error:
                if error.code in (404, 410):
                    raise NotFoundError(f"{url}: HTTP {error.code} {error.reason}") from None
                if error.code not in RETRY_STATUSES or attempt == self.retries:
                    raise FeedError(f"{url}: HTTP {error.code} {error.reason}") from None
                self.sleep(self._delay(attempt, error.headers.get("Retry-After")))
            except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as error:
                if attempt == self.retries:
                    reason = getattr(error, "reason", None) or error
                    raise FeedError(f"{url}: {reason} (after {self.retries + 1} attempts)") from None
                self.sleep(self._delay(attempt, None))
        raise AssertionError("unreachable")

    def _request(self, url: str, extra: Mapping[str, str]) -> urllib.request.Request:
        return urllib.request.Request(
            url, headers={"User-Agent": f"airgap-scanner-dbbuilder/{__version__}", **self.headers, **extra})

    def get_json(self, url: str, params: Mapping[str, str | int] | None = None) -> Any:
        full = f"{url}?{urllib.parse.urlencode(params)}" if params else url

        def exchange() -> Any:
            with urllib.request.urlopen(self._request(full, {}), timeout=self.timeout) as response:
                body = response.read(MAX_JSON_BYTES + 1)
            if len(body) > MAX_JSON_BYTES:
                raise FeedError(f"{full}: response larger than {MAX_JSON_BYTES} bytes")
            try:
                return json.loads(body)
            except RecursionError:
                raise FeedError(f"{full}: JSON nested too deeply to be a feed response") from None
            except ValueError:
                # A truncated or garbled body from a flaky proxy: worth another attempt.
                raise http.client.IncompleteRead(body[:64]) from None

        return self._attempts(full, exchange)

    def get_text(self, url: str, max_bytes: int = MAX_JSON_BYTES) -> str:
        def exchange() -> str:
            with urllib.request.urlopen(self._request(url, {}), timeout=self.timeout) as response:
                body = bytes(response.read(max_bytes + 1))
            if len(body) > max_bytes:
                raise FeedError(f"{url}: response larger than {max_bytes} bytes")
            try:
                return body.decode("utf-8")
            except UnicodeDecodeError:
                raise FeedError(f"{url}: response is not UTF-8 text") from None

        result: str = self._attempts(url, exchange)
        return result

    def download(
        self, url: str, dest: Path, *, known: Validators | None = None, check: Callable[[Path], None] | None = None,
        max_bytes: int | None = None,
    ) -> Download:
        """Download `url` to `dest`, resuming a previous partial download and replacing `dest` atomically.

        `known` are the validators of the copy already at `dest`: the request is conditional, and an
        unchanged file is not downloaded again. `check` validates the complete file before it replaces
        `dest` (e.g. that a zip archive is whole); it raises FeedError to refuse. A file larger than
        `max_bytes` (announced or received) is refused with FeedError and its partial copy removed.
        """

        def refuse_oversized() -> None:
            part.unlink(missing_ok=True)
            part_meta.unlink(missing_ok=True)
            raise FeedError(f"{url}: larger than {max_bytes} bytes; refused")

        part = dest.with_name(dest.name + PART_SUFFIX)
        part_meta = dest.with_name(dest.name + PART_META_SUFFIX)

        def exchange() -> Download:
            resume_from = part.stat().st_size if part.exists() else 0
            part_validators = Validators.from_json(_read_json_file(part_meta))
            headers: dict[str, str] = {}
            if resume_from and (part_validators.etag or part_validators.last_modified):
                headers["Range"] = f"bytes={resume_from}-"
                headers["If-Range"] = part_validators.etag or part_validators.last_modified or ""
            elif known is not None and dest.exists():
                if known.etag:
                    headers["If-None-Match"] = known.etag
                if known.last_modified:
                    headers["If-Modified-Since"] = known.last_modified
            try:
                response = urllib.request.urlopen(self._request(url, headers), timeout=self.timeout)
            except urllib.error.HTTPError as error:
                if error.code == 304 and known is not None:
                    return Download(dest, False, known, dest.stat().st_size)
                if error.code == 416:  # our partial file is not a prefix of the current one: start over
                    part.unlink(missing_ok=True)
                    part_meta.unlink(missing_ok=True)
                    raise http.client.HTTPException("partial download no longer matches; restarting") from None
                raise
            with response:
                validators = Validators(response.headers.get("ETag"), response.headers.get("Last-Modified"))
                appending = response.status == 206
                if appending and not str(response.headers.get("Content-Range", "")).startswith(
                        f"bytes {resume_from}-"):
                    part.unlink(missing_ok=True)
                    raise http.client.HTTPException(f"server resumed at the wrong offset (wanted {resume_from})")
                if not appending:
                    part_meta.write_text(json.dumps(validators.to_json()))
                announced = response.headers.get("Content-Length")
                offset = resume_from if appending else 0
                if (max_bytes is not None and announced is not None and announced.isascii() and announced.isdigit()
                        and offset + int(announced) > max_bytes):
                    refuse_oversized()
                received = 0
                with part.open("ab" if appending else "wb") as handle:
                    while chunk := response.read(CHUNK_BYTES):
                        handle.write(chunk)
                        received += len(chunk)
                        if max_bytes is not None and offset + received > max_bytes:
                            handle.close()
                            refuse_oversized()
                    handle.flush()
                    os.fsync(handle.fileno())
            # http.client returns a short body without complaint when the peer hangs up early.
            if announced is not None and announced.isascii() and announced.isdigit() and received < int(announced):
                raise http.client.IncompleteRead(b"", int(announced) - received)
            if check is not None:
                try:
                    check(part)
                except FeedError:
                    part.unlink(missing_ok=True)
                    part_meta.unlink(missing_ok=True)
                    raise
            final = Validators.from_json(_read_json_file(part_meta)) if appending else validators
            os.replace(part, dest)
            with contextlib.suppress(FileNotFoundError):
                part_meta.unlink()
            return Download(dest, True, final, dest.stat().st_size)

        result: Download = self._attempts(url, exchange)
        return result
