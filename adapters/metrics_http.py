"""``/metrics`` over HTTP: the Prometheus text of ``bot.metrics``, for a scraper.

The Slack HTTP server adds the route to its own app; ``paperboy run --metrics-port N`` serves it
alone for a worker without HTTP (Discord gateway, Socket Mode, schedules).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from bot import metrics

METRICS_PATH = "/metrics"


async def metrics_handler(request: web.Request) -> web.Response:
    # With PROMETHEUS_MULTIPROC_DIR the text is gathered from files: keep that off the loop.
    accept = request.headers.get("Accept", "")
    body, content_type = await asyncio.to_thread(metrics.render, accept)
    return web.Response(body=body, headers={"Content-Type": content_type})


def add_metrics_route(app: web.Application) -> None:
    app.router.add_get(METRICS_PATH, metrics_handler)


async def serve_metrics(host: str, port: int) -> web.AppRunner:
    """Serve ``/metrics`` alone on ``host:port``; ``await runner.cleanup()`` stops it."""
    app = web.Application()
    add_metrics_route(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
