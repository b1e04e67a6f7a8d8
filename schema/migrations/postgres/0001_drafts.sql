-- Draft documents: an append-only update log and one snapshot per draft.
CREATE TABLE doc_updates (
    id    BIGSERIAL PRIMARY KEY,
    room  TEXT NOT NULL,
    draft TEXT NOT NULL,
    data  BYTEA NOT NULL
);
CREATE INDEX doc_updates_by_draft ON doc_updates (room, draft, id);

CREATE TABLE doc_snapshots (
    room       TEXT NOT NULL,
    draft      TEXT NOT NULL,
    upto       BIGINT NOT NULL,
    data       BYTEA NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (room, draft)
);
