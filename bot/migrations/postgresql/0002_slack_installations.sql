-- PostgreSQL dialect of bot/migrations/0002_slack_installations.sql.
-- Slack installations for multi-workspace mode (the OAuth install flow): one bot token per
-- workspace, or per organization for an org-wide install (team_id = ''). Uninstalling removes
-- the row; the workspace's channels, votes and shares stay. Tokens are credentials: protect
-- this database and its backups like the SLACK_* settings themselves.
CREATE TABLE slack_installations (
    enterprise_id         text NOT NULL DEFAULT '',
    team_id               text NOT NULL DEFAULT '',
    app_id                text,
    enterprise_name       text,
    team_name             text,
    bot_token             text NOT NULL,
    bot_id                text NOT NULL,
    bot_user_id           text NOT NULL,
    bot_scopes            text NOT NULL DEFAULT '',    -- comma-separated, as Slack sends them
    bot_refresh_token     text,                        -- only with token rotation
    bot_token_expires_at  timestamptz,                 -- only with token rotation
    is_enterprise_install boolean NOT NULL DEFAULT false,
    installer_user_id     text,
    installed_at          timestamptz NOT NULL,
    PRIMARY KEY (enterprise_id, team_id)
);

-- OAuth "state" values handed to browsers starting an install, each good for one callback.
CREATE TABLE slack_oauth_states (
    state       text PRIMARY KEY,
    expires_at  timestamptz NOT NULL
);
