"""The committed bundle is exactly what the sources and the lock file build.

The hub serves ``clients/web/dist`` without Node, so it is committed; this
rebuilds it in a fresh temporary copy (``npm ci && npm run build``, type check
included) and compares every file byte for byte. A different directory and
time catch absolute paths and timestamps in the output, and a source change
without a rebuild fails here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from schema.close_codes import CLOSE_CODES
from tests.conftest import unavailable

WEB = Path(__file__).resolve().parents[2] / "clients" / "web"
SOURCES = ("package.json", "package-lock.json", "tsconfig.json", "vite.config.ts", "index.html", "src", "public")


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.node
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_committed_bundle_rebuilds_byte_identical(tmp_path: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        unavailable("npm (to rebuild the web bundle)", "npm is not on PATH")
    work = tmp_path / "web"
    work.mkdir()
    for name in SOURCES:
        source = WEB / name
        if source.is_dir():
            shutil.copytree(source, work / name)
        else:
            shutil.copy2(source, work / name)
    env = {**os.environ, "CI": "true", "NO_COLOR": "1"}
    for command in ([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], [npm, "run", "build"]):
        done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=540)
        assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"
    built, committed = files(work / "dist"), files(WEB / "dist")
    assert sorted(built) == sorted(committed), "rebuild the bundle: cd clients/web && npm ci && npm run build"
    changed = [name for name in built if built[name] != committed[name]]
    assert changed == [], f"{changed} differ from a fresh build: rebuild and commit clients/web/dist"
    for name, data in committed.items():
        assert str(WEB).encode() not in data and str(work).encode() not in data, f"{name} holds an absolute path"


def test_client_close_code_table_matches_the_hub() -> None:
    text = (WEB / "src" / "closecodes.ts").read_text(encoding="utf-8")
    found = re.search(r"NO_RECONNECT[^=]*= new Set\(\[([\d,\s]+)\]\)", text)
    assert found is not None
    client = {int(code) for code in found.group(1).replace(",", " ").split()}
    assert client == {info.code.value for info in CLOSE_CODES if not info.reconnect}
