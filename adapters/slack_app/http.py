"""HTTP mode: ``/slack/events`` (commands, interactivity and events), ``/healthz``, ``/metrics``
(Prometheus), and the install pages when multi-workspace, on an aiohttp server.

Every request to ``/slack/events`` is checked here, once: Slack's v0 signature over the raw
bytes, within five minutes, before anything is parsed. Bolt's own check is off (see ``app``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.signature import SignatureVerifier

from adapters.metrics_http import add_metrics_route
from adapters.slack_app.app import SlackApp
from adapters.slack_app.listeners import FAILED_TEXT, RECEIVED_AT
from bot import metrics
from bot.config import ConfigError

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
MAX_BODY_BYTES = 1024 * 1024
MAX_REQUEST_AGE_SECONDS = 5 * 60


@dataclass
class HttpServer:
    """A running HTTP endpoint; ``close()`` lets in-flight answers finish, then stops."""

    app: AsyncApp
    runner: web.AppRunner
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def close(self) -> None:
        if isinstance(self.app, SlackApp):
            await self.app.drain()
        await self.runner.cleanup()


async def serve_http(app: AsyncApp, host: str, port: int) -> HttpServer:
    """Serve ``/slack/events`` (commands, interactivity, events), ``/healthz`` and, with OAuth,
    ``/slack/install`` and ``/slack/oauth_redirect``. Port 0 picks a free port."""
    if isinstance(app, SlackApp) and app.verifier is None:
        raise ConfigError(
            "HTTP mode needs SLACK_SIGNING_SECRET (Basic Information > App Credentials)."
        )
    endpoint = _HttpEndpoint(app, app.verifier if isinstance(app, SlackApp) else None)
    web_app = web.Application(client_max_size=MAX_BODY_BYTES)
    web_app.router.add_post(EVENTS_PATH, endpoint.events)
    web_app.router.add_get(HEALTH_PATH, endpoint.health)
    add_metrics_route(web_app)
    oauth = app.oauth_flow
    if oauth is not None:
        web_app.router.add_get(oauth.install_path, endpoint.install)
        web_app.router.add_get(oauth.redirect_uri_path, endpoint.oauth_redirect)
    # aiohttp's access log would print the OAuth callback's query (code and state): keep it off.
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = runner.addresses[0][1] if runner.addresses else port
    log.info("Slack HTTP endpoint listening on http://%s:%d%s", host, bound, EVENTS_PATH)
    return HttpServer(app, runner, host, int(bound))


@dataclass(frozen=True, slots=True)
class _HttpEndpoint:
    app: AsyncApp
    verifier: SignatureVerifier | None

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def events(self, request: web.Request) -> web.Response:
        received = time.monotonic()
        raw = await request.read()
        if self.verifier is not None and not _signed(self.verifier, raw, request.headers):
            log.info("refused a request with a bad, stale or missing Slack signature")
            return web.json_response({"error": "invalid signature"}, status=401)
        try:
            bolt_request = AsyncBoltRequest(
                body=raw.decode("utf-8"), query=request.query_string, headers=dict(request.headers),
                context={RECEIVED_AT: received},
            )  # fmt: skip
            if not isinstance(bolt_request.body, dict):
                raise TypeError("payload is not an object")
        except Exception as error:  # anything unparseable is the sender's problem, not a 500
            log.info("refused a malformed Slack request: %s", type(error).__name__)
            return web.json_response({"error": "malformed payload"}, status=400)
        if bolt_request.body.get("ssl_check") == "1":
            return web.Response(status=200)  # Slack checking our certificate: nothing to do
        kind = bolt_request.body.get("type")
        response = await self.app.async_dispatch(bolt_request)
        metrics.REQUESTS.labels(platform="slack", kind=_request_kind(bolt_request.body)).inc()
        metrics.ACK_SECONDS.labels(platform="slack").observe(time.monotonic() - received)
        if kind == "event_callback" and (response.status == 404 or response.status >= 500):
            # An event nobody handles, or one that failed, is still received: a non-2xx answer
            # only makes Slack retry it (and eventually switch the subscription off).
            response = BoltResponse(status=200, body="")
        elif response.status == 404:
            response = BoltResponse(status=400, body='{"error": "unsupported request"}',
                                    headers={"content-type": "application/json"})  # fmt: skip
        elif response.status >= 500:
            response = BoltResponse(
                status=200, body=f'{{"response_type": "ephemeral", "text": "{FAILED_TEXT}"}}',
                headers={"content-type": "application/json"},
            )  # fmt: skip
        return await to_aiohttp_response(response)

    async def install(self, request: web.Request) -> web.Response:
        oauth = self.app.oauth_flow
        assert oauth is not None
        return await to_aiohttp_response(await oauth.handle_installation(_oauth_request(request)))

    async def oauth_redirect(self, request: web.Request) -> web.Response:
        oauth = self.app.oauth_flow
        assert oauth is not None
        return await to_aiohttp_response(await oauth.handle_callback(_oauth_request(request)))


def _request_kind(body: Mapping[str, object]) -> str:
    """command | block_actions | event | …: a bounded set of labels, never user input."""
    if "command" in body:
        return "command"
    kind = body.get("type")
    if kind == "event_callback":
        return "event"
    return (
        str(kind) if kind in ("block_actions", "view_submission", "url_verification") else "other"
    )


def _oauth_request(request: web.Request) -> AsyncBoltRequest:
    """The install and redirect pages are plain GETs: only the query and headers matter."""
    return AsyncBoltRequest(body="", query=request.query_string, headers=dict(request.headers))


def _signed(verifier: SignatureVerifier, raw: bytes, headers: Mapping[str, str]) -> bool:
    """Slack's v0 signature over the raw bytes, within five minutes of our clock."""
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    try:
        age = abs(verifier.clock.now() - int(timestamp))
    except (ValueError, OverflowError):
        return False
    if age > MAX_REQUEST_AGE_SECONDS:
        return False
    base = b"v0:" + timestamp.encode("ascii") + b":" + raw
    digest = hmac.new(verifier.signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"v0={digest}".encode(), signature.encode("utf-8", "replace"))
