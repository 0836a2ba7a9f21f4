-- The annotation app's own SQLite file (separate from the run store: a team's annotation
-- database is shared and long-lived, runs are per machine). Portable SQL: INTEGER ids and Unix
-- times, JSON as TEXT. Absent model names are '' rather than NULL so UNIQUE constraints hold.

-- People who sign in. Secrets are stored only as hashes: `token_hash` is the SHA-256 (hex) of
-- the personal token, `password_hash` a PBKDF2-HMAC-SHA256 string with its salt and rounds.
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('lead', 'annotator')),
    token_hash TEXT UNIQUE,
    password_hash TEXT,
    created_at INTEGER NOT NULL
);

-- Browser sessions: the cookie value is never stored, only its SHA-256.
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    csrf TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE projects (
    id INTEGER PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('pairwise', 'likert', 'binary')),
    config_json TEXT NOT NULL,
    overlap INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    min_alpha REAL,
    created_at INTEGER NOT NULL
);

CREATE TABLE members (
    project_id INTEGER NOT NULL REFERENCES projects (id),
    user_id INTEGER NOT NULL REFERENCES users (id),
    joined_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, user_id)
);

-- Items as imported (the whole record, so export and pages see every field).
CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects (id),
    item_key TEXT NOT NULL,
    record_json TEXT NOT NULL,
    UNIQUE (project_id, item_key)
);

-- What gets labelled: an item with a model pair (pairwise) or one model (Likert, binary).
-- `round` is 'main', or the name of the calibration round the task was moved to.
CREATE TABLE tasks (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects (id),
    item_id INTEGER NOT NULL REFERENCES items (id),
    model_a TEXT NOT NULL DEFAULT '',
    model_b TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '',
    round TEXT NOT NULL DEFAULT 'main',
    UNIQUE (project_id, item_id, model_a, model_b, model)
);
CREATE INDEX tasks_by_round ON tasks (project_id, round);

-- Each member's own random order of the tasks (recorded, so it is the same after a restart).
CREATE TABLE queue (
    project_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    task_id INTEGER NOT NULL REFERENCES tasks (id),
    rank INTEGER NOT NULL,
    PRIMARY KEY (user_id, task_id)
);
CREATE INDEX queue_order ON queue (project_id, user_id, rank);

-- A task handed to an annotator: `position` is its place in their sequence, `shown` the order
-- in which the two responses were shown ('AB': model_a on the left), `state` open, done or
-- skipped. Unique per task and annotator: nobody labels a task twice.
CREATE TABLE assignments (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects (id),
    task_id INTEGER NOT NULL REFERENCES tasks (id),
    user_id INTEGER NOT NULL REFERENCES users (id),
    position INTEGER NOT NULL,
    shown TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL CHECK (state IN ('open', 'done', 'skipped')),
    skip_reason TEXT,
    claimed_at INTEGER NOT NULL,
    done_at INTEGER,
    UNIQUE (task_id, user_id)
);
CREATE INDEX assignments_by_user ON assignments (project_id, user_id, state);

-- Labels, in the task's model_a/model_b frame whatever order was shown. One per task,
-- annotator and criterion ('' for projects with a single question): a repeated submission
-- (double click, retry) updates the same row.
CREATE TABLE labels (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects (id),
    assignment_id INTEGER NOT NULL REFERENCES assignments (id),
    task_id INTEGER NOT NULL REFERENCES tasks (id),
    user_id INTEGER NOT NULL REFERENCES users (id),
    criterion TEXT NOT NULL DEFAULT '',
    value_json TEXT NOT NULL,
    reason TEXT,
    guideline_version INTEGER,
    round TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    duration_ms INTEGER,
    UNIQUE (task_id, user_id, criterion)
);
CREATE INDEX labels_by_project ON labels (project_id, id);

CREATE TABLE guidelines (
    project_id INTEGER NOT NULL REFERENCES projects (id),
    version INTEGER NOT NULL,
    markdown TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    created_by INTEGER REFERENCES users (id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, version)
);

-- Examples of good and bad annotations, part of the guideline from `version` on.
CREATE TABLE examples (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects (id),
    version INTEGER NOT NULL,
    task_id INTEGER REFERENCES tasks (id),
    kind TEXT NOT NULL CHECK (kind IN ('good', 'bad')),
    label TEXT NOT NULL,
    explanation TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- The lead's decision on a disagreement.
CREATE TABLE resolutions (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects (id),
    task_id INTEGER NOT NULL REFERENCES tasks (id),
    criterion TEXT NOT NULL DEFAULT '',
    value_json TEXT NOT NULL,
    note TEXT NOT NULL,
    example_id INTEGER REFERENCES examples (id),
    created_by INTEGER REFERENCES users (id),
    created_at INTEGER NOT NULL,
    UNIQUE (task_id, criterion)
);

-- Judgments imported from `gavel judge`, shown as extra annotators beside the humans.
CREATE TABLE judge_labels (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects (id),
    annotator TEXT NOT NULL,
    record_json TEXT NOT NULL,
    imported_at INTEGER NOT NULL
);
