-- The planning workflow: sessions (rooms) get a state and a schedule; drafts, topic reports,
-- dispatch tasks with receipts, and the duty rotation with its handover log.
-- Times are Unix seconds (REAL); calendar dates are 'YYYY-MM-DD' text; lists are JSON text.
-- Rooms that exist already (the seeded demo sessions) become 'open'.
ALTER TABLE rooms ADD COLUMN status TEXT NOT NULL DEFAULT 'open'
    CHECK (status IN ('scheduled', 'open', 'closed', 'archived'));
ALTER TABLE rooms ADD COLUMN starts_at REAL;
ALTER TABLE rooms ADD COLUMN ends_at REAL;
ALTER TABLE rooms ADD COLUMN created_by TEXT;
-- SQLite cannot add a column whose default is the clock: writers set it (0: unknown).
ALTER TABLE rooms ADD COLUMN created_at REAL NOT NULL DEFAULT 0;
UPDATE rooms SET created_at = changed_at;
CREATE INDEX rooms_by_creation ON rooms (created_at, id);

-- A draft of a planning session: its Yjs document is /yjs/{session}/{name}.
CREATE TABLE drafts (
    session    TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    title      TEXT NOT NULL,
    lead_unit  TEXT NOT NULL REFERENCES units (code),
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (session, name)
);

-- Topic reports (报题) and what happened to each.
CREATE TABLE topics (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    unit          TEXT NOT NULL REFERENCES units (code),
    title         TEXT NOT NULL,
    angle         TEXT NOT NULL DEFAULT '',
    proposed_date TEXT NOT NULL,
    platforms     TEXT NOT NULL DEFAULT '[]',
    links         TEXT NOT NULL DEFAULT '[]',
    status        TEXT NOT NULL,
    session       TEXT,
    draft         TEXT,
    merged_into   INTEGER REFERENCES topics (id),
    created_by    TEXT NOT NULL,
    created_at    REAL NOT NULL,
    updated_at    REAL NOT NULL,
    FOREIGN KEY (session, draft) REFERENCES drafts (session, name)
);
CREATE INDEX topics_by_unit ON topics (unit, id);
CREATE INDEX topics_by_status ON topics (status, id);

CREATE TABLE topic_history (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    topic       INTEGER NOT NULL REFERENCES topics (id),
    at          REAL NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX topic_history_by_topic ON topic_history (topic, id);

-- Dispatch (派单): a task and one receipt per recipient (a unit or a user).
CREATE TABLE tasks (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    title         TEXT NOT NULL,
    body          TEXT NOT NULL DEFAULT '',
    priority      TEXT NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    deadline_at   REAL NOT NULL,
    status        TEXT NOT NULL,
    session       TEXT REFERENCES rooms (id),
    assigner      TEXT NOT NULL,
    assigner_unit TEXT NOT NULL,
    reason        TEXT NOT NULL DEFAULT '',
    created_at    REAL NOT NULL,
    updated_at    REAL NOT NULL
);
CREATE INDEX tasks_by_assigner ON tasks (assigner, id);
CREATE INDEX tasks_by_deadline ON tasks (status, deadline_at);

CREATE TABLE receipts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    task            INTEGER NOT NULL REFERENCES tasks (id),
    recipient_unit  TEXT REFERENCES units (code),
    recipient_user  TEXT REFERENCES users (id),
    status          TEXT NOT NULL,
    reason          TEXT NOT NULL DEFAULT '',
    delivered_at    REAL NOT NULL,
    read_at         REAL,
    acknowledged_at REAL,
    decided_at      REAL,
    escalated_at    REAL,
    escalated_to    TEXT,
    CHECK ((recipient_unit IS NULL) <> (recipient_user IS NULL))
);
CREATE INDEX receipts_by_task ON receipts (task, id);
CREATE INDEX receipts_by_unit ON receipts (recipient_unit, task);
CREATE INDEX receipts_by_user ON receipts (recipient_user, task);
CREATE INDEX receipts_unescalated ON receipts (escalated_at, status);

-- The duty rotation (轮值): one row. units: JSON list; the unit on duty at time t is
-- units[floor((t - anchor_at) / period) mod len(units)].
CREATE TABLE duty_rotation (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    units      TEXT NOT NULL,
    period     TEXT NOT NULL CHECK (period IN ('daily', 'weekly')),
    anchor_at  REAL NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at REAL NOT NULL
);

-- Each time the unit on duty changed, once.
CREATE TABLE duty_handovers (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    since_at  REAL NOT NULL,
    from_unit TEXT,
    to_unit   TEXT NOT NULL,
    at        REAL NOT NULL
);
