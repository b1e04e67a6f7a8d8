"""SQL migrations, one folder per backend, files named ``NNNN_name.sql``."""

from __future__ import annotations

from importlib import resources

__all__ = ["latest_version", "migrations"]


def migrations(backend: str) -> list[tuple[int, str, str]]:
    """Return (version, name, sql) for every migration of ``backend``, in order."""
    folder = resources.files(__package__).joinpath(backend)
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    assert versions == list(range(1, len(found) + 1)), f"migration numbers have gaps: {versions}"
    return found


def latest_version(backend: str) -> int:
    return len(migrations(backend))
