-- Live channels: each channel's event history, with a per-channel offset and an epoch.
-- live_channels.top_offset: offset of the newest event (0: none yet). Publishers lock the row
--   (upsert) until they commit, so offsets of one channel commit in offset order.
-- live_channels.kept_after: every event with a larger offset is still held; retention raises it.
-- live_channels.epoch: random; a channel whose history starts over gets a new one.
CREATE TABLE live_channels (
    channel    TEXT PRIMARY KEY,
    epoch      TEXT NOT NULL,
    top_offset BIGINT NOT NULL DEFAULT 0,
    kept_after BIGINT NOT NULL DEFAULT 0,
    updated_at DOUBLE PRECISION NOT NULL
);

CREATE TABLE live_events (
    channel      TEXT NOT NULL,
    event_offset BIGINT NOT NULL,
    type         TEXT NOT NULL,
    data         TEXT NOT NULL,
    at           DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (channel, event_offset)
);
CREATE INDEX live_events_by_time ON live_events (at);

-- Idempotency keys of the HTTP publish endpoint: what a key published, so a retry publishes nothing new.
CREATE TABLE live_publishes (
    key    TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    result TEXT NOT NULL,
    at     DOUBLE PRECISION NOT NULL
);
CREATE INDEX live_publishes_by_time ON live_publishes (at);
