-- Slack installations for multi-workspace mode (the OAuth install flow): one bot token per
-- workspace, or per organization for an org-wide install (team_id = ''). Uninstalling removes
-- the row; the workspace's channels, votes and shares stay. Tokens are credentials: protect
-- this file and its backups like the SLACK_* settings themselves.
CREATE TABLE slack_installations (
    enterprise_id         TEXT NOT NULL DEFAULT '',
    team_id               TEXT NOT NULL DEFAULT '',
    app_id                TEXT,
    enterprise_name       TEXT,
    team_name             TEXT,
    bot_token             TEXT NOT NULL,
    bot_id                TEXT NOT NULL,
    bot_user_id           TEXT NOT NULL,
    bot_scopes            TEXT NOT NULL DEFAULT '',    -- comma-separated
    bot_refresh_token     TEXT,                        -- only with token rotation
    bot_token_expires_at  INTEGER,                     -- unix seconds, only with token rotation
    is_enterprise_install INTEGER NOT NULL DEFAULT 0,
    installer_user_id     TEXT,
    installed_at          REAL NOT NULL,               -- unix seconds
    PRIMARY KEY (enterprise_id, team_id)
);

-- OAuth "state" values handed to browsers starting an install, each good for one callback.
CREATE TABLE slack_oauth_states (
    state       TEXT PRIMARY KEY,
    expires_at  REAL NOT NULL                          -- unix seconds
);
