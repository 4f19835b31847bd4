-- PostgreSQL dialect of bot/migrations/0006_workspace_settings.sql.
-- Settings that hold for a whole workspace (a Slack team), not one channel.

-- Who may change a channel's settings (topics, schedule, picks, quiet days): 'everyone', as
-- always, or 'admins' (workspace admins and owners). Only an admin or owner changes this row.
-- No row means the defaults. (0005 is another branch's migration; versions may arrive apart.)
CREATE TABLE workspace_settings (
    platform         text NOT NULL,
    workspace        text NOT NULL,
    channel_changes  text NOT NULL DEFAULT 'everyone'
                     CHECK (channel_changes IN ('everyone', 'admins')),
    updated_by       text NOT NULL,           -- user id of the admin who last changed it
    updated_at       timestamptz NOT NULL,
    PRIMARY KEY (platform, workspace)
);
