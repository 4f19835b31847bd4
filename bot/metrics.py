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

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client.exposition import choose_encoder

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
SEARCH_VECTORS_SKIPPED = Counter(
    "paperboy_search_vectors_skipped", "Searches answered by words alone because many ran at once"
)
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
# A catch-up that keeps applying changes means this worker's index trails the database; a stale
# timestamp means catch-ups stopped. Lag in seconds: time() minus the timestamp.
INDEX_CATCH_UP = Gauge(
    "paperboy_index_catch_up_changes",
    "Paper changes the last catch-up of this worker's search index applied",
    multiprocess_mode="max",
)
INDEX_CAUGHT_UP_AT = Gauge(
    "paperboy_index_caught_up_timestamp_seconds",
    "When this worker's search index last caught up with the database",
    multiprocess_mode="min",
)
RATE_LIMIT_WAITS = Counter(
    "paperboy_rate_limit_waits", "Waits imposed by a rate limit, by platform or source", ["target"]
)
RATE_LIMIT_WAIT_SECONDS = Counter(
    "paperboy_rate_limit_wait_seconds", "Time spent waiting on rate limits", ["target"]
)


def render(accept: str = "") -> tuple[bytes, str]:
    """The exposition in the format the scraper's ``Accept`` header asks for (Prometheus text
    0.0.4 by default, OpenMetrics on request) and its content type: this process's metrics, or
    every process's when ``PROMETHEUS_MULTIPROC_DIR`` is set."""
    registry = REGISTRY
    if os.environ.get(MULTIPROC_DIR):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    encode, content_type = choose_encoder(accept)
    return encode(registry), content_type


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
