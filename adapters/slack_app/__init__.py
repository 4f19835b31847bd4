"""The Slack adapter, one module per concern (see ``app`` for the overview)."""
