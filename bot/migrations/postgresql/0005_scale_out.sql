-- PostgreSQL dialect of bot/migrations/0005_scale_out.sql. digest_runs has claimed_by and
-- lease_expires_at since 0001; the claim count and the open-rows index are new.
ALTER TABLE digest_runs ADD COLUMN attempts integer NOT NULL DEFAULT 0;
UPDATE digest_runs SET lease_expires_at = claimed_at, attempts = 1
    WHERE status = 'claimed' AND lease_expires_at IS NULL;
-- The claim scan (FOR UPDATE SKIP LOCKED) reads only open rows.
CREATE INDEX digest_runs_open ON digest_runs (status, lease_expires_at)
    WHERE status IN ('due', 'claimed');

-- One row per scheduled job: the process holding an unexpired lease runs it, the others skip.
CREATE TABLE job_leases (
    job              text PRIMARY KEY,
    fire_time        timestamptz NOT NULL,
    holder           text NOT NULL,
    lease_expires_at timestamptz NOT NULL
);

-- Keys of requests already handled (Slack retries, repeated clicks), shared by every worker.
CREATE TABLE request_dedupe (
    key         text PRIMARY KEY,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX request_dedupe_expires ON request_dedupe (expires_at);
