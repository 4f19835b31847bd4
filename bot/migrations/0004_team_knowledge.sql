-- Team knowledge: a one-line TL;DR and code stars on cards, personal reading lists, journal
-- club claims, and replies counted under posted papers.

-- From Hugging Face: its one-sentence summary and the star count of the paper's repository
-- (the repository link itself is papers.code_url). NULL until an ingest brings them.
ALTER TABLE papers ADD COLUMN ai_summary TEXT;
ALTER TABLE papers ADD COLUMN github_stars INTEGER;

-- One reading list per person: per platform and workspace, like votes.
CREATE TABLE reading_list (
    platform    TEXT NOT NULL,
    workspace   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    paper_id    TEXT NOT NULL REFERENCES papers (id),
    saved_at    TEXT NOT NULL,
    read_at     TEXT,                         -- NULL while unread
    PRIMARY KEY (platform, workspace, user_id, paper_id)
);

-- Who presents which paper in a channel's journal club, and on which (channel-local) day.
-- The reminder is claimed (reminder_status = 'claimed') before the direct message is sent and
-- marked 'sent' or 'failed' after, so it goes out at most once, as digests do.
CREATE TABLE club_claims (
    id              INTEGER PRIMARY KEY,
    channel_id      INTEGER NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    paper_id        TEXT NOT NULL REFERENCES papers (id),
    presenter       TEXT NOT NULL,            -- user id
    presenter_name  TEXT,                     -- display name when the platform gave one
    present_on      TEXT NOT NULL,            -- YYYY-MM-DD in the channel's timezone
    claimed_at      TEXT NOT NULL,
    reminder_status TEXT,                     -- NULL | claimed | sent | failed | abandoned
    reminder_at     TEXT,
    UNIQUE (channel_id, paper_id)
);
CREATE INDEX club_claims_upcoming ON club_claims (present_on);

-- Messages that show one paper (a share, an unfurled link), so a reply in their thread counts
-- as discussion of that paper.
CREATE TABLE paper_messages (
    platform    TEXT NOT NULL,
    workspace   TEXT NOT NULL,
    message_key TEXT NOT NULL,                -- the platform's message id (Slack ts, Discord id)
    channel     TEXT NOT NULL,
    paper_id    TEXT NOT NULL REFERENCES papers (id),
    posted_at   TEXT NOT NULL,
    PRIMARY KEY (platform, workspace, message_key)
);

CREATE TABLE discussion_replies (
    id          INTEGER PRIMARY KEY,
    platform    TEXT NOT NULL,
    workspace   TEXT NOT NULL,
    channel     TEXT NOT NULL,
    paper_id    TEXT NOT NULL REFERENCES papers (id),
    user_id     TEXT NOT NULL,
    reply_key   TEXT,                         -- the reply's own message id: a redelivery counts once
    replied_at  TEXT NOT NULL,
    UNIQUE (platform, workspace, reply_key)
);
CREATE INDEX discussion_recent ON discussion_replies (platform, workspace, replied_at);
