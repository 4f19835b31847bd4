"""The embedding port: text in, unit-length vectors out, from a model that works offline.

``PAPERBOY_EMBEDDINGS`` picks the model (see :func:`load_embedder`). The default is WordLlama's
``l2_supercat`` model, whose weights ship inside the ``wordllama`` wheel, so a fresh machine with
no network still gets semantic search. Libraries are imported inside the loaders: they are heavy,
and WordLlama configures logging on import, which must happen after the application set it up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

DEFAULT_MODEL = "wordllama"
OFF = "off"
# Larger batches were measured slower for WordLlama on two cores.
BATCH = 64
# Static models average token vectors, so an abstract's later sentences (methods, numbers) dilute
# what it is about. On the arXiv corpus (bench/relevance.py) the first 1000 characters embed 1.5x
# faster than whole abstracts, with the same "more like this" precision and better question
# recall (0.68 vs 0.65 in the top 3); 600 scored higher still on our questions, which were written
# from abstract openings, but lost papers whose point comes late (tests/test_relevance.py).
MAX_CHARS = 1000

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 rows, one per text."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> Vectors: ...


class EmbeddingsUnavailable(RuntimeError):
    """No model could be loaded; the message says which and why."""


def load_embedder(spec: str | None) -> Embedder | None:
    """The model ``spec`` names, or ``None`` for lexical-only search.

    ``spec`` is ``off``; empty or ``wordllama`` for the model shipped in the wordllama wheel;
    a local folder holding a model2vec model (``config.json`` + ``model.safetensors``); or a
    model2vec hub name such as ``minishlab/potion-base-8M`` (needs network on first use).
    When the model cannot be loaded this logs one warning and returns ``None``.
    """
    spec = (spec or DEFAULT_MODEL).strip()
    if spec.lower() == OFF:
        log.info("embeddings are off (PAPERBOY_EMBEDDINGS=off): search is lexical only")
        return None
    try:
        return _loader(spec)()
    except EmbeddingsUnavailable as error:
        log.warning("semantic search is off, search is lexical only: %s", error)
    except Exception as error:  # a broken model must not stop the bot from answering
        log.warning("semantic search is off, search is lexical only: %s cannot be loaded (%s)",
                    spec, error)  # fmt: skip
    return None


def _loader(spec: str) -> Callable[[], Embedder]:
    if spec.lower() == DEFAULT_MODEL:
        return _wordllama
    path = Path(spec).expanduser()
    looks_local = path.is_absolute() or spec.startswith((".", "~")) or path.exists()
    if looks_local:
        if not path.is_dir():
            raise EmbeddingsUnavailable(f"PAPERBOY_EMBEDDINGS folder {path} does not exist")
        return lambda: _model2vec(str(path), spec)
    return lambda: _model2vec(spec, spec)


class _ModelEmbedder:
    """Any model with a batch ``encode(texts) -> array``, normalised and truncated here."""

    def __init__(self, name: str, dim: int, encode: Callable[[list[str]], Any]) -> None:
        self._name = name
        self._dim = dim
        self._encode = encode

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        parts = []
        for start in range(0, len(texts), BATCH):
            batch = [text[:MAX_CHARS] for text in texts[start : start + BATCH]]
            parts.append(np.asarray(self._encode(batch), dtype=np.float32))
        return normalise(np.vstack(parts).astype(np.float32, copy=False))


def normalise(vectors: Vectors) -> Vectors:
    """Rows scaled to unit length (zero rows stay zero), so a dot product is the cosine."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    scaled: Vectors = (vectors / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
    return scaled


def _wordllama() -> Embedder:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        import wordllama
        from wordllama import WordLlama
    except ImportError as error:
        raise EmbeddingsUnavailable("the wordllama package is not installed") from error
    finally:
        # Importing wordllama calls logging.basicConfig; keep the application's logging as set.
        root.handlers[:], root.level = handlers, level
    # The wheel ships l2_supercat; loading from the package folder needs no network.
    model = WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)
    dim = int(model.embed(["probe"]).shape[1])
    return _ModelEmbedder("wordllama-l2_supercat", dim, lambda texts: model.embed(texts))


def _model2vec(source: str, label: str) -> Embedder:
    try:
        from model2vec import StaticModel
    except ImportError as error:
        raise EmbeddingsUnavailable(
            f"PAPERBOY_EMBEDDINGS={label} needs the model2vec package (pip install model2vec)"
        ) from error
    model = StaticModel.from_pretrained(source)
    dim = int(model.dim)
    return _ModelEmbedder(f"model2vec:{label}", dim, lambda texts: model.encode(texts))


def paper_text(title: str, abstract: str) -> str:
    """What a paper's vector is made of: the title says most, so it goes first."""
    return f"{title}. {abstract}"
