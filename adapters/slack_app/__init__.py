"""The Slack adapter, one module per concern (see ``app`` for the overview)."""

from adapters.slack_app.app import build_slack_app, serve_http

__all__ = ["build_slack_app", "serve_http"]
