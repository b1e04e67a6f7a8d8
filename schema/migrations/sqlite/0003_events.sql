-- Live channels: each channel's event history, with a per-channel offset and an epoch.
-- Times are Unix seconds (REAL).
-- live_channels.top_offset: offset of the newest event (0: none yet).
-- live_channels.kept_after: every event with a larger offset is still held; retention raises it.
-- live_channels.epoch: random; a channel whose history starts over gets a new one.
CREATE TABLE live_channels (
    channel    TEXT PRIMARY KEY,
    epoch      TEXT NOT NULL,
    top_offset INTEGER NOT NULL DEFAULT 0,
    kept_after INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL
);

CREATE TABLE live_events (
    channel      TEXT NOT NULL,
    event_offset INTEGER NOT NULL,
    type         TEXT NOT NULL,
    data         TEXT NOT NULL,
    at           REAL NOT NULL,
    PRIMARY KEY (channel, event_offset)
) WITHOUT ROWID;
CREATE INDEX live_events_by_time ON live_events (at);

-- Idempotency keys of the HTTP publish endpoint: what a key published, so a retry publishes nothing new.
CREATE TABLE live_publishes (
    key    TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    result TEXT NOT NULL,
    at     REAL NOT NULL
);
CREATE INDEX live_publishes_by_time ON live_publishes (at);
