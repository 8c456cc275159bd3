"""What previous fetches left behind, in DEST/fetch-state.json: validators of each OSV archive and of each
distro file (by its path under DEST), and the NVD run in progress or last completed (for resume and for
the next incremental fetch)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanner.errors import FeedError
from scanner.fileio import write_atomically

STATE_FILE = "fetch-state.json"


@dataclass
class FetchState:
    path: Path
    osv: dict[str, Any] = field(default_factory=dict)
    nvd: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, dest: Path) -> FetchState:
        path = dest / STATE_FILE
        if not path.exists():
            return cls(path)
        try:
            document = json.loads(path.read_bytes())
        except (OSError, ValueError, RecursionError) as error:
            raise FeedError(f"{path}: unreadable fetch state ({error}); delete it to start afresh") from error
        if not isinstance(document, dict) or not all(isinstance(document.get(k, {}), dict) for k in ("osv", "nvd", "files")):
            raise FeedError(f"{path}: not a fetch state file; delete it to start afresh")
        return cls(path, dict(document.get("osv", {})), dict(document.get("nvd", {})), dict(document.get("files", {})))

    def save(self) -> None:
        document = {"osv": self.osv, "nvd": self.nvd, "files": self.files}
        write_atomically(self.path, (json.dumps(document, indent=2, sort_keys=True) + "\n").encode())
