"""``tongpin token``: a token for scripts, signed with the secret the hub uses."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import jwt

from tests.identity.hubproc import ROOT


def tongpin(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TONGPIN_")}
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        cwd=ROOT,
        env=base | (env or {}),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_token_for_a_demo_user_on_a_fresh_data_dir(tmp_path: Path) -> None:
    result = tongpin("token", "--user", "humen-editor", "--ttl", "30m", "--data-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert "\n" not in token  # only the token on stdout: TOKEN=$(tongpin token ...)
    secret = (tmp_path / "secret.key").read_bytes().strip()
    assert stat.S_IMODE((tmp_path / "secret.key").stat().st_mode) == 0o600
    claims = jwt.decode(token, secret, algorithms=["HS256"])
    assert claims["sub"] == "humen-editor" and claims["unit"] == "humen" and claims["roles"] == ["editor"]
    assert claims["name"] and 1790 <= claims["exp"] - claims["iat"] <= 1800


def test_token_refuses_unknown_users_and_bad_ttls(tmp_path: Path) -> None:
    unknown = tongpin("token", "--user", "nobody", "--data-dir", str(tmp_path))
    assert unknown.returncode == 1 and "no enabled user" in unknown.stderr and not unknown.stdout
    bad = tongpin("token", "--user", "humen-editor", "--ttl", "forever", "--data-dir", str(tmp_path))
    assert bad.returncode != 0 and "--ttl" in bad.stderr


def test_with_an_operator_secret_there_are_no_demo_users(tmp_path: Path) -> None:
    result = tongpin("token", "--user", "humen-editor", "--data-dir", str(tmp_path), env={"TONGPIN_SECRET": "q" * 40})
    assert result.returncode == 1
    assert not (tmp_path / "secret.key").exists()


def test_serve_refuses_a_newer_schema_in_one_line(tmp_path: Path) -> None:
    """A database migrated by a newer Tongpin: exit 2 and one line saying so, no traceback, nothing touched."""
    db = sqlite3.connect(tmp_path / "tongpin.sqlite3")
    with contextlib.closing(db):
        db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT)")
        db.execute("INSERT INTO schema_migrations VALUES (999, 'from the future', 'now')")
        db.commit()
    result = tongpin("serve", "--port", "0", "--data-dir", str(tmp_path))
    assert result.returncode == 2, result.stderr
    assert "listening" not in result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("tongpin serve: database schema is version 999, but this Tongpin knows only up to"), last
    db = sqlite3.connect(tmp_path / "tongpin.sqlite3")
    with contextlib.closing(db):
        assert db.execute("SELECT version FROM schema_migrations").fetchall() == [(999,)]
