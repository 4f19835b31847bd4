"""Where papers come from: Hugging Face Daily Papers, the arXiv API and the bundled sample.

Each source takes an ``httpx.AsyncClient`` that the caller owns and closes; nothing here reads
the environment or keeps global state.
"""

from __future__ import annotations

from bot.sources.arxiv import ArxivQueryError, ArxivSource, parse_feed
from bot.sources.hf import HuggingFaceSource, parse_daily_papers
from bot.sources.http import (
    MinIntervalLimiter,
    ParseResult,
    RetryPolicy,
    SourceError,
    get_with_retry,
)
from bot.sources.sample import load_sample

__all__ = [
    "ArxivQueryError",
    "ArxivSource",
    "HuggingFaceSource",
    "MinIntervalLimiter",
    "ParseResult",
    "RetryPolicy",
    "SourceError",
    "get_with_retry",
    "load_sample",
    "parse_daily_papers",
    "parse_feed",
]
