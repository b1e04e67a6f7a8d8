-- Draft documents: an append-only update log and one snapshot per draft.
CREATE TABLE doc_updates (
    id    INTEGER PRIMARY KEY AUTOINCREMENT,
    room  TEXT NOT NULL,
    draft TEXT NOT NULL,
    data  BLOB NOT NULL
);
CREATE INDEX doc_updates_by_draft ON doc_updates (room, draft, id);

CREATE TABLE doc_snapshots (
    room       TEXT NOT NULL,
    draft      TEXT NOT NULL,
    upto       INTEGER NOT NULL,
    data       BLOB NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (room, draft)
);
