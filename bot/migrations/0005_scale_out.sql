-- Scale-out: digest claims with leases, once-per-cluster job leases, shared request de-duplication.

-- A digest row now starts 'due' (queued by the one worker that scanned schedules), becomes
-- 'claimed' by the worker that posts it, with its name and a lease that worker keeps renewing
-- while it works, and ends done | skipped | failed. A 'claimed' row whose lease ran out belongs
-- to a worker that died: another takes it over (`attempts` counts the claims).
ALTER TABLE digest_runs ADD COLUMN claimed_by TEXT;
ALTER TABLE digest_runs ADD COLUMN lease_expires_at TEXT;   -- ISO 8601, UTC
ALTER TABLE digest_runs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
-- A claim left by a process stopped before this version has no lease: it is expired at once.
UPDATE digest_runs SET lease_expires_at = claimed_at, attempts = 1 WHERE status = 'claimed';
CREATE INDEX digest_runs_claimed_at ON digest_runs (claimed_at);
-- The claim scan reads only open rows, a handful among all the finished ones.
CREATE INDEX digest_runs_open ON digest_runs (status, lease_expires_at)
    WHERE status IN ('due', 'claimed');

-- One row per scheduled job (ingest, digest scan, reminders): the process holding an unexpired
-- lease runs it, every other process skips that firing.
CREATE TABLE job_leases (
    job              TEXT PRIMARY KEY,
    fire_time        TEXT NOT NULL,           -- when the holder's firing started
    holder           TEXT NOT NULL,           -- worker id
    lease_expires_at TEXT NOT NULL            -- renewed while running; set to now when done
);

-- Keys of requests already handled (Slack retries, repeated button clicks), shared by every
-- worker behind the load balancer; a key is handled by whoever inserts it first.
CREATE TABLE request_dedupe (
    key         TEXT PRIMARY KEY,
    expires_at  TEXT NOT NULL                 -- ISO 8601, UTC; rows past it are swept
);
CREATE INDEX request_dedupe_expires ON request_dedupe (expires_at);
