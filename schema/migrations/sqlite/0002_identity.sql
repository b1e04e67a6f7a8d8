-- Identity: units, users, planning sessions (rooms) with member units, and the audit trail.
-- Times are Unix seconds (REAL). changed_at drives the hubs' revocation poll.
CREATE TABLE units (
    code    TEXT PRIMARY KEY,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    kind    TEXT NOT NULL CHECK (kind IN ('city_outlet', 'park', 'subdistrict', 'town')),
    note    TEXT NOT NULL DEFAULT ''
);

CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    unit       TEXT NOT NULL REFERENCES units (code),
    roles      TEXT NOT NULL DEFAULT '',
    disabled   INTEGER NOT NULL DEFAULT 0,
    changed_at REAL NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0)
);
CREATE INDEX users_by_unit ON users (unit, id);
CREATE INDEX users_by_change ON users (changed_at);

CREATE TABLE rooms (
    id         TEXT PRIMARY KEY,
    title      TEXT NOT NULL,
    owner_unit TEXT NOT NULL REFERENCES units (code),
    changed_at REAL NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0)
);
CREATE INDEX rooms_by_change ON rooms (changed_at);

CREATE TABLE room_members (
    room TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    unit TEXT NOT NULL REFERENCES units (code),
    PRIMARY KEY (room, unit)
);
CREATE INDEX room_members_by_unit ON room_members (unit, room);

CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     REAL NOT NULL,
    node   TEXT NOT NULL DEFAULT '',
    actor  TEXT,
    unit   TEXT,
    client TEXT,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_by_actor ON audit_log (actor, id);
CREATE INDEX audit_by_action ON audit_log (action, id);
