-- The opinion monitor: feed sources with their fetch health, matching rules, alerts; and the
-- worker leases (one holder per background job across the cluster). Times are Unix seconds.
CREATE TABLE monitor_sources (
    id              TEXT PRIMARY KEY,
    url             TEXT NOT NULL,
    name            TEXT NOT NULL,
    fetch_interval  DOUBLE PRECISION NOT NULL,
    fetch_timeout   DOUBLE PRECISION NOT NULL,
    enabled         BOOLEAN NOT NULL DEFAULT true,
    created_by      TEXT,
    created_at      DOUBLE PRECISION NOT NULL,
    updated_at      DOUBLE PRECISION NOT NULL,
    etag            TEXT,
    last_modified   TEXT,
    last_fetch_at   DOUBLE PRECISION,
    last_success_at DOUBLE PRECISION,
    last_error      TEXT,
    last_error_at   DOUBLE PRECISION,
    failures        INTEGER NOT NULL DEFAULT 0,
    next_fetch_at   DOUBLE PRECISION NOT NULL DEFAULT 0,
    items_total     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX monitor_sources_due ON monitor_sources (next_fetch_at);

CREATE TABLE monitor_rules (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    any_terms   TEXT NOT NULL DEFAULT '[]',
    all_terms   TEXT NOT NULL DEFAULT '[]',
    none_terms  TEXT NOT NULL DEFAULT '[]',
    regions     TEXT NOT NULL DEFAULT '{}',
    use_unit_names BOOLEAN NOT NULL DEFAULT true,
    severity    TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
    enabled     BOOLEAN NOT NULL DEFAULT true,
    created_by  TEXT,
    created_at  DOUBLE PRECISION NOT NULL,
    updated_at  DOUBLE PRECISION NOT NULL
);

-- url_key: hash of the canonical URL; text_key: hash of the normalised title. Both unique, so two
-- workers can never store the same alert twice. simhash: NULL for texts too short to compare.
CREATE TABLE monitor_alerts (
    seq             BIGSERIAL PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    url_key         TEXT NOT NULL UNIQUE,
    text_key        TEXT NOT NULL UNIQUE,
    simhash         BIGINT,
    title           TEXT NOT NULL,
    summary         TEXT NOT NULL DEFAULT '',
    url             TEXT NOT NULL,
    source          TEXT NOT NULL,
    rules           TEXT NOT NULL DEFAULT '[]',
    matched         TEXT NOT NULL DEFAULT '[]',
    severity        TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
    unit            TEXT,
    routed_by       TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('new', 'acknowledged', 'assigned', 'resolved', 'dismissed')),
    topic           TEXT,
    task            TEXT,
    published_at    DOUBLE PRECISION,
    created_at      DOUBLE PRECISION NOT NULL,
    updated_at      DOUBLE PRECISION NOT NULL,
    escalated_at    DOUBLE PRECISION,
    escalated_to    TEXT,
    history         TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX monitor_alerts_by_status ON monitor_alerts (status, seq);
CREATE INDEX monitor_alerts_by_unit ON monitor_alerts (unit, seq);
CREATE INDEX monitor_alerts_by_time ON monitor_alerts (created_at);

CREATE TABLE worker_leases (
    job        TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
