"""What an operator of many workers watches, in Prometheus' terms: one definition per metric.

Each worker serves these at ``/metrics`` (the Slack HTTP server, or ``--metrics-port``). Several
processes on one machine (gunicorn-style) share them through ``PROMETHEUS_MULTIPROC_DIR``: set it
to an empty directory before the processes start and every one of them reports the sum of all.
No label carries a secret or a user's text: platforms, job names, outcomes and reasons only.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
# Slack wants an answer within 3 s; the buckets are dense below that.
_FAST = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)

REQUESTS = Counter(
    "paperboy_requests", "Requests from a chat platform, by platform and kind", ["platform", "kind"]
)
ACK_SECONDS = Histogram(
    "paperboy_ack_seconds", "From a request's arrival to its acknowledgement", ["platform"],
    buckets=_FAST,
)  # fmt: skip
SEARCH_SECONDS = Histogram("paperboy_search_seconds", "One search, end to end", buckets=_FAST)
DIGESTS = Counter(
    "paperboy_digests", "Digests by outcome: posted, quiet, failed, retry, missed", ["outcome"]
)
DIGESTS_RETRIED = Counter(
    "paperboy_digests_retried",
    "Digests posted again later: delayed (rate limit, outage), error, takeover (a worker died)",
    ["reason"],
)
DIGEST_RECORD_LAG = Histogram(
    "paperboy_digest_record_lag_seconds",
    "From a digest's post to its record committing, per batch (the duplicate window)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0),
)
JOB_RUNS = Counter(
    "paperboy_job_runs", "Scheduled job firings, by job and outcome", ["job", "outcome"]
)
JOB_LAST_SUCCESS = Gauge(
    "paperboy_job_last_success_timestamp_seconds",
    "When a job last finished here; time() minus this is the job's lag",
    ["job"],
    multiprocess_mode="max",
)
INDEX_LAG = Gauge(
    "paperboy_index_catch_up_lag_changes",
    "Paper changes in the database this worker's search index has not applied yet",
    multiprocess_mode="max",
)
RATE_LIMIT_WAITS = Counter(
    "paperboy_rate_limit_waits", "Waits imposed by a rate limit, by platform or source", ["target"]
)
RATE_LIMIT_WAIT_SECONDS = Counter(
    "paperboy_rate_limit_wait_seconds", "Time spent waiting on rate limits", ["target"]
)


def render() -> tuple[bytes, str]:
    """The exposition text and its content type: this process's metrics, or every process's
    when ``PROMETHEUS_MULTIPROC_DIR`` is set."""
    if os.environ.get(MULTIPROC_DIR):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def waited(target: str, seconds: float) -> None:
    """Count one rate-limit wait of ``seconds`` for ``target`` (a platform or a paper source)."""
    if seconds > 0:
        RATE_LIMIT_WAITS.labels(target=target).inc()
        RATE_LIMIT_WAIT_SECONDS.labels(target=target).inc(seconds)


@contextmanager
def timed(histogram: Histogram) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        histogram.observe(time.perf_counter() - started)
