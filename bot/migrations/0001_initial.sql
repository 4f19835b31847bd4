-- Papers, channels and what teams do with them.
CREATE TABLE papers (
    id          TEXT PRIMARY KEY,             -- canonical arXiv id, no version suffix
    version     INTEGER NOT NULL DEFAULT 1,
    title       TEXT NOT NULL,
    abstract    TEXT NOT NULL,
    authors     TEXT NOT NULL,                -- JSON array of names
    categories  TEXT NOT NULL DEFAULT '[]',   -- JSON array of arXiv categories, primary first
    published   TEXT NOT NULL,                -- ISO 8601, UTC
    hf_upvotes  INTEGER NOT NULL DEFAULT 0,
    on_hf       INTEGER NOT NULL DEFAULT 0,
    code_url    TEXT,
    sources     INTEGER NOT NULL DEFAULT 0,   -- bit set, see storage.SOURCE_BITS
    first_seen  TEXT NOT NULL,
    change_seq  INTEGER NOT NULL              -- bumped on every change; the search index follows it
);
CREATE INDEX papers_change_seq ON papers (change_seq);
CREATE INDEX papers_first_seen ON papers (first_seen);

CREATE TABLE channels (
    id            INTEGER PRIMARY KEY,
    platform      TEXT NOT NULL,
    workspace     TEXT NOT NULL,
    channel       TEXT NOT NULL,
    timezone      TEXT NOT NULL DEFAULT 'UTC',
    digest_time   TEXT NOT NULL DEFAULT '09:00',
    digest_days   TEXT NOT NULL DEFAULT 'weekdays',   -- weekdays | daily | off
    schedule_set  INTEGER NOT NULL DEFAULT 0,         -- someone ran /papers schedule here
    top_n         INTEGER NOT NULL DEFAULT 5,
    quiet_notice  INTEGER NOT NULL DEFAULT 1,         -- say so on days with nothing new
    weekly_day    INTEGER NOT NULL DEFAULT 0,         -- 0 = Monday
    paused_reason TEXT,
    failures      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    UNIQUE (platform, workspace, channel)
);

CREATE TABLE subscriptions (
    id          INTEGER PRIMARY KEY,
    channel_id  INTEGER NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    query       TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (channel_id, query)
);

CREATE TABLE votes (
    platform    TEXT NOT NULL,
    workspace   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    paper_id    TEXT NOT NULL REFERENCES papers (id),
    voted_at    TEXT NOT NULL,
    PRIMARY KEY (platform, workspace, paper_id, user_id)
);
CREATE INDEX votes_recent ON votes (platform, workspace, voted_at);

CREATE TABLE shares (
    id          INTEGER PRIMARY KEY,
    channel_id  INTEGER NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL,
    paper_id    TEXT NOT NULL REFERENCES papers (id),
    comment     TEXT,
    shared_at   TEXT NOT NULL
);
CREATE INDEX shares_recent ON shares (channel_id, shared_at);

CREATE TABLE posts (
    channel_id  INTEGER NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    paper_id    TEXT NOT NULL REFERENCES papers (id),
    kind        TEXT NOT NULL,                -- daily | weekly
    posted_at   TEXT NOT NULL,
    PRIMARY KEY (channel_id, kind, paper_id)
);

CREATE TABLE digest_runs (
    channel_id  INTEGER NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,                -- daily | weekly
    period      TEXT NOT NULL,                -- the channel's local date the digest is for
    status      TEXT NOT NULL,                -- claimed | done | skipped
    claimed_at  TEXT NOT NULL,
    finished_at TEXT,
    detail      TEXT,
    PRIMARY KEY (channel_id, kind, period)
);

CREATE TABLE source_status (
    source       TEXT PRIMARY KEY,
    last_success TEXT,
    last_error   TEXT,
    last_error_at TEXT,
    papers_seen  INTEGER NOT NULL DEFAULT 0
);
