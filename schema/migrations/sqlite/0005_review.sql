-- Review (三审) of drafts, their pinned and published versions, the review history, and the
-- assessment (考核) statistics per unit and day. Times are Unix seconds (REAL); a draft is
-- (session, name) of the drafts table.

-- Where a draft's review stands; a draft without a row is being edited.
-- pin: the current pin (draft_versions.id); stale: an edit followed it, so it needs a new pin.
CREATE TABLE draft_reviews (
    session    TEXT NOT NULL,
    name       TEXT NOT NULL,
    status     TEXT NOT NULL
        CHECK (status IN ('editing', 'submitted', 'level_2', 'level_3', 'approved', 'published', 'rejected')),
    pin        INTEGER,
    stale      INTEGER NOT NULL DEFAULT 0,
    changed_at REAL NOT NULL,
    PRIMARY KEY (session, name),
    FOREIGN KEY (session, name) REFERENCES drafts (session, name) ON DELETE CASCADE
);
CREATE INDEX draft_reviews_by_change ON draft_reviews (changed_at);

-- Versions: the document (a Yjs update holding it whole) and its plain text, as pinned by a
-- review step or published. status/level: the review state it was pinned for.
CREATE TABLE draft_versions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    session    TEXT NOT NULL,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('pin', 'published')),
    status     TEXT NOT NULL,
    level      INTEGER NOT NULL,
    state      BLOB NOT NULL,
    text       TEXT NOT NULL,
    created_at REAL NOT NULL,
    created_by TEXT,
    FOREIGN KEY (session, name) REFERENCES drafts (session, name) ON DELETE CASCADE
);
CREATE INDEX draft_versions_by_draft ON draft_versions (session, name, id);

-- Every review step: who did what at which level, with the version it pinned.
CREATE TABLE review_steps (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    session     TEXT NOT NULL,
    name        TEXT NOT NULL,
    action      TEXT NOT NULL,
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    level       INTEGER NOT NULL,
    version     INTEGER,
    actor       TEXT,
    unit        TEXT,
    comment     TEXT NOT NULL DEFAULT '',
    at          REAL NOT NULL,
    FOREIGN KEY (session, name) REFERENCES drafts (session, name) ON DELETE CASCADE
);
CREATE INDEX review_steps_by_draft ON review_steps (session, name, id);
CREATE INDEX review_steps_by_time ON review_steps (at);

-- Assessment: one row per unit and calendar day (the city's), written by the assessment worker.
-- ack_seconds, review_seconds: JSON lists of durations, so medians over any days are exact.
CREATE TABLE unit_stats (
    unit             TEXT NOT NULL REFERENCES units (code),
    day              TEXT NOT NULL,
    tasks_received   INTEGER NOT NULL,
    tasks_on_time    INTEGER NOT NULL,
    ack_seconds      TEXT NOT NULL,
    topics_submitted INTEGER NOT NULL,
    topics_adopted   INTEGER NOT NULL,
    drafts_published INTEGER NOT NULL,
    review_seconds   TEXT NOT NULL,
    computed_at      REAL NOT NULL,
    PRIMARY KEY (unit, day)
);
CREATE INDEX unit_stats_by_day ON unit_stats (day, unit);
