-- Runs and what they produced. Portable SQL on purpose: TEXT ids, INTEGER unix times, JSON as
-- TEXT, no SQLite-only types, so a PostgreSQL backend can use the same schema with only the
-- DDL dialect changed.
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    config_path TEXT NOT NULL,
    config_sha256 TEXT NOT NULL,
    config_text TEXT NOT NULL,
    gavel_version TEXT NOT NULL,
    resumed_from TEXT,
    cost_usd REAL NOT NULL DEFAULT 0,
    calls INTEGER NOT NULL DEFAULT 0,
    cached_calls INTEGER NOT NULL DEFAULT 0,
    message TEXT
);
CREATE INDEX runs_by_config ON runs (config_sha256, started_at);

-- One row per stage of a run, so an interrupted run resumes after its last finished stage.
CREATE TABLE stages (
    run_id TEXT NOT NULL REFERENCES runs (id),
    stage TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    PRIMARY KEY (run_id, stage)
);

-- Provenance of each judge in a run: what produced the numbers.
CREATE TABLE run_judges (
    run_id TEXT NOT NULL REFERENCES runs (id),
    judge TEXT NOT NULL,
    kind TEXT NOT NULL,
    template TEXT,
    template_sha256 TEXT,
    judge_model TEXT,
    reported_models TEXT,
    system_fingerprints TEXT,
    endpoint TEXT,
    settings_json TEXT NOT NULL,
    PRIMARY KEY (run_id, judge)
);

CREATE TABLE items (
    run_id TEXT NOT NULL REFERENCES runs (id),
    item_id TEXT NOT NULL,
    record_json TEXT NOT NULL,
    PRIMARY KEY (run_id, item_id)
);

CREATE TABLE judgments (
    run_id TEXT NOT NULL REFERENCES runs (id),
    judge TEXT NOT NULL,
    seq INTEGER NOT NULL,
    record_json TEXT NOT NULL,
    PRIMARY KEY (run_id, judge, seq)
);

CREATE TABLE labels (
    run_id TEXT NOT NULL REFERENCES runs (id),
    seq INTEGER NOT NULL,
    record_json TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);

-- Results by stage and key (e.g. stage "metrics", key "alpha"): JSON documents.
CREATE TABLE results (
    run_id TEXT NOT NULL REFERENCES runs (id),
    stage TEXT NOT NULL,
    key TEXT NOT NULL,
    value_json TEXT NOT NULL,
    PRIMARY KEY (run_id, stage, key)
);
