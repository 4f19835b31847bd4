"""The Slack adapter, one module per concern.

``app``           the Bolt app built from settings (``build_slack_app``, ``SlackApp``)
``listeners``     slash commands, Upvote clicks, pasted links, uninstalls
``payloads``      reading Slack's payloads; remembering deliveries already handled
``blocks``        Block Kit rendering of the core's replies
``poster``        the scheduler's way out (``SlackPoster``): pacing, 429s, errors sorted, DMs
``files``         file uploads through Slack's external upload flow (``FileUploader``)
``knowledge``     the Save button, export files, the App Home tab, thread replies counted
``home``          the App Home tab's view
``oauth``         the install flow for many workspaces
``installations`` bot tokens and OAuth states in Paperboy's database
``http``          HTTP mode (``serve_http``): one signature check per request
``socket_mode``   Socket Mode (``start_socket_mode``)
``logs``          the logger slack_sdk writes through, with secrets blanked out
"""

from __future__ import annotations

from adapters.slack_app.app import SlackApp, build_slack_app
from adapters.slack_app.http import HttpServer, serve_http
from adapters.slack_app.poster import SlackPoster
from adapters.slack_app.socket_mode import SocketModeConnection, start_socket_mode

__all__ = [
    "HttpServer",
    "SlackApp",
    "SlackPoster",
    "SocketModeConnection",
    "build_slack_app",
    "serve_http",
    "start_socket_mode",
]
