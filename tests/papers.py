"""Realistic test papers: titles and abstract openings from a real Hugging Face Daily Papers page.

Ids use the 0001.xxxxx range (January 2000, before arXiv's new-style ids existed), so they look
like arXiv ids to the parser but can never collide with a real paper.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from bot.models import Paper

NOW = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)

_SEED = [
    (
        "Efficient Streaming Language Models with Attention Sinks",
        "Deploying Large Language Models (LLMs) in streaming applications such as multi-round "
        "dialogue, where long interactions are expected, is urgently needed but poses two major "
        "challenges. We introduce StreamingLLM, an efficient framework that keeps attention sinks.",
        ("Guangxuan Xiao", "Yuandong Tian", "Beidi Chen", "Song Han", "Mike Lewis"),
        ("cs.CL", "cs.AI"),
        412,
    ),
    (
        "Tutel: Adaptive Mixture-of-Experts at Scale",
        "Sparsely-gated mixture-of-experts (MoE) has been widely adopted to scale deep learning "
        "models to trillion-plus parameters with fixed computational cost.",
        ("Changho Hwang", "Wei Cui"),
        ("cs.DC", "cs.LG"),
        35,
    ),
    (
        "Promptagator: Few-shot Dense Retrieval From 8 Examples",
        "Much recent research on information retrieval has focused on how to transfer from one "
        "task (typically with abundant supervised data) to various other tasks where supervision "
        "is limited. We show that dense retrieval can be trained from eight examples.",
        ("Zhuyun Dai", "Vincent Y. Zhao", "Ji Ma"),
        ("cs.IR", "cs.CL"),
        88,
    ),
    (
        "Pyramid Vision Transformer: A Versatile Backbone for Dense Prediction "
        "without Convolutions",
        "Although using convolutional neural networks (CNNs) as backbones achieves great successes "
        "in computer vision, this work investigates a simple backbone network useful for many "
        "dense prediction tasks without convolutions.",
        ("Wenhai Wang", "Enze Xie", "Dirk Wübben"),
        ("cs.CV",),
        140,
    ),
    (
        "Ragnarök: A Reusable RAG Framework and Baselines for TREC 2024 "
        "Retrieval-Augmented Generation Track",
        "Did you try out the new Bing Search? "
        "Or maybe you fiddled around with Google AI Overviews? "
        "These might sound familiar because the modern-day search stack has recently evolved to "
        "include retrieval-augmented generation (RAG) systems.",
        ("Ronak Pradeep", "Nandan Thakur", "Jimmy Lin"),
        ("cs.IR",),
        21,
    ),
    (
        "Scaling Laws for Downstream Task Performance of Large Language Models",
        "Scaling laws provide important insights that can guide the design of large language "
        "models (LLMs). Existing work has primarily focused on studying scaling laws for "
        "pretraining (upstream) loss.",
        ("Berivan Isik", "Natalia Ponomareva", "Sanmi Koyejo"),
        ("cs.CL", "cs.LG"),
        57,
    ),
    (
        "MMTEB: Massive Multilingual Text Embedding Benchmark",
        "Text embeddings are typically evaluated on a limited set of tasks, which are constrained "
        "by language, domain, and task diversity. We introduce a massive multilingual benchmark.",
        ("Kenneth Enevoldsen", "Niklas Muennighoff"),
        ("cs.CL", "cs.IR"),
        96,
    ),
    (
        "Wide Attention Is The Way Forward For Transformers?",
        "The Transformer is an extremely powerful and prominent deep learning architecture. In "
        "this work, we challenge the commonly held belief in deep learning that going deeper is "
        "better, and show an alternative design approach that is building wider attention "
        "Transformers.",
        ("Jason Ross Brown", "Yiren Zhao"),
        ("cs.LG",),
        9,
    ),
]


def seed_papers(now: datetime = NOW) -> list[Paper]:
    """Eight papers published over the last day and a half, most upvoted first in the list."""
    papers = []
    for n, (title, abstract, authors, categories, upvotes) in enumerate(_SEED, start=1):
        papers.append(
            Paper(
                id=f"0001.{n:05d}",
                title=title,
                abstract=abstract,
                authors=authors,
                categories=categories,
                published=now - timedelta(hours=4 * n),
                hf_upvotes=upvotes,
                on_hf=True,
                sources=frozenset({"hf"}),
            )
        )
    return papers


def paper(n: int, **changes: object) -> Paper:
    """One seed paper (1-based), with fields changed as given."""
    return dataclasses.replace(seed_papers()[n - 1], **changes)  # type: ignore[arg-type]
