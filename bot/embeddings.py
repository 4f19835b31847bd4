"""The embedding port: text in, unit-length vectors out, from a model that works offline.

``PAPERBOY_EMBEDDINGS`` picks the model (see :func:`load_embedder`). The default is WordLlama's
``l2_supercat`` model, whose weights ship inside the ``wordllama`` wheel, so a fresh machine with
no network still gets semantic search. Libraries are imported inside the loaders: they are heavy,
and WordLlama configures logging on import, which must happen after the application set it up.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from tokenizers import Tokenizer

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

    @property
    def contextual(self) -> bool:
        """Whether a word's vector depends on the words around it (a transformer): such a
        model is asked whole questions; a static model's question vector is built from its
        words (bot.retrieval.rarity_weighted)."""
        ...

    def embed(self, texts: Sequence[str]) -> Vectors: ...


class EmbeddingsUnavailable(RuntimeError):
    """No model could be loaded; the message says which and why."""


def load_embedder(spec: str | None) -> Embedder | None:
    """The model ``spec`` names, or ``None`` for lexical-only search.

    ``spec`` is ``off``; empty or ``wordllama`` for the model shipped in the wordllama wheel;
    a local folder holding a model2vec model (``config.json`` + ``model.safetensors``) or a
    sentence-transformer exported to ONNX (``model.onnx`` + ``tokenizer.json``); or a
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
        if (path / ONNX_MODEL).exists():
            return lambda: OnnxEmbedder.load(path, spec)
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

    @property
    def contextual(self) -> bool:
        return False

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        parts = []
        for start in range(0, len(texts), BATCH):
            batch = [text[:MAX_CHARS] for text in texts[start : start + BATCH]]
            parts.append(np.asarray(self._encode(batch), dtype=np.float32))
        return normalise(np.vstack(parts).astype(np.float32, copy=False))


# WordLlama's tokenizer (Llama 2's BPE) writes each space as "▁" and has no pre-tokenizer, so it
# runs BPE over a whole text at once: ~0.5 ms of CPU per abstract, more than storing and indexing
# the paper. No token in its vocabulary has "▁" after another character, so no merge ever crosses
# the start of a word: tokenising word by word gives the same ids, and as words repeat, each is
# tokenised once and remembered (bot/embeddings.py's tests compare with WordLlama's own embed).
_SPACE = "\u2581"
_WORD = re.compile(f"{_SPACE}+[^{_SPACE}]*|[^{_SPACE}]+")
_INSIDE_SPACE = re.compile(f"[^{_SPACE}]{_SPACE}")
_WORDS_NORMALIZER = {
    "type": "Sequence",
    "normalizers": [
        {"type": "Prepend", "prepend": _SPACE},
        {"type": "Replace", "pattern": {"String": " "}, "content": _SPACE},
    ],
}
# ~200 bytes a word with the dict: about 80 MiB at most (100k synthetic papers meet 220k distinct
# words, so a smaller memory would start afresh mid-ingest). Past it the memory starts afresh.
MAX_CACHED_WORDS = 400_000
# Finding a page's words takes ~30 bytes of numpy arrays per byte of text: ~30 MB at a time.
STATIC_BATCH = 1024


class StaticEmbedder:
    """A static model's vectors: each text's mean token embedding, as WordLlama's ``embed``
    computes it, but with the token counts of a whole page in one sparse matrix times the
    embedding table instead of a padded batch of token vectors (a tenth of the memory traffic).
    """

    def __init__(self, name: str, table: npt.ArrayLike, tokenizer: Tokenizer) -> None:
        from tokenizers import Tokenizer

        self._name = name
        self._table: Vectors = np.ascontiguousarray(table, dtype=np.float32)
        config = json.loads(tokenizer.to_str())
        # Copies: WordLlama pads its own tokenizer, and padding would count as tokens here.
        self._whole = Tokenizer.from_str(tokenizer.to_str())
        self._whole.no_padding()
        self._whole.no_truncation()
        self._by_words = _splits_into_words(config)
        self._words = Tokenizer.from_str(tokenizer.to_str())
        self._words.no_padding()
        self._words.no_truncation()
        self._words.normalizer = None  # words arrive normalised
        # Special tokens are matched in the raw text before normalising: such texts go whole.
        self._specials = tuple(token["content"] for token in config.get("added_tokens", ()))
        self._cache: dict[str | bytes, tuple[int, ...]] = {}

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return int(self._table.shape[1])

    @property
    def contextual(self) -> bool:
        return False

    def embed(self, texts: Sequence[str]) -> Vectors:
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), STATIC_BATCH):
            counts = self.token_counts(texts[start : start + STATIC_BATCH])
            sums = np.asarray(counts @ self._table, dtype=np.float32)
            lengths = np.asarray(counts.sum(axis=1), dtype=np.float32).reshape(-1, 1)
            vectors[start : start + len(sums)] = sums / np.maximum(lengths, 1.0)
        return normalise(vectors)

    def token_counts(self, texts: Sequence[str]) -> Any:
        """A sparse matrix: row n counts the token ids of ``texts[n]`` (its first ``MAX_CHARS``
        characters), as WordLlama's tokenizer gives them."""
        clipped = [text[:MAX_CHARS] for text in texts]
        if not self._by_words:
            return _count_rows(self._whole_ids(clipped), len(self._table))
        # Special tokens, and the "▁" the normaliser writes for a space, are rare: such texts go
        # whole through the tokenizer.
        whole = [n for n, text in enumerate(clipped) if self._special(text) or _SPACE in text]
        skipped = set(whole)
        counts = self._counts_by_words(["" if n in skipped else t for n, t in enumerate(clipped)])
        if whole:
            found = dict(zip(whole, self._whole_ids([clipped[n] for n in whole]), strict=True))
            rows = [found.get(n, ()) for n in range(len(clipped))]
            counts = counts + _count_rows(rows, len(self._table))
        return counts

    def _whole_ids(self, texts: Sequence[str]) -> list[Sequence[int]]:
        encoded = self._whole.encode_batch_fast(list(texts), add_special_tokens=False)
        return [encoding.ids for encoding in encoded]

    def _special(self, text: str) -> bool:
        return "<" in text and any(token in text for token in self._specials)

    def _counts_by_words(self, texts: Sequence[str]) -> Any:
        """Texts x words (each distinct word of the page once) times words x tokens (sparse)."""
        from scipy.sparse import csr_array

        found = _page_words(texts)
        if found is None:  # two different words with one hash: found the slow way
            found = _page_words_in_python(texts)
        vocabulary, columns, per_text = found
        cache = self._cache
        if len(cache) > MAX_CACHED_WORDS:
            cache = self._cache = {}  # threads still reading the old one keep it
        unseen = [word for word in vocabulary if word not in cache]
        if unseen:
            # Words arrive as UTF-8 with spaces (decoded only when new) or as the tokenizer
            # writes them; the tokenizer gets the latter.
            written = [_written(word) for word in unseen]
            encoded = self._words.encode_batch_fast(written, add_special_tokens=False)
            cache.update(zip(unseen, (tuple(e.ids) for e in encoded), strict=True))
        tokens_of = _count_rows(list(map(cache.__getitem__, vocabulary)), len(self._table))
        ends = np.cumsum(per_text)
        words_of = csr_array(
            (np.ones(len(columns), dtype=np.float32), columns, np.concatenate(([0], ends))),
            shape=(len(texts), len(vocabulary)),
        )
        return words_of @ tokens_of


# Each text's words as the tokenizer's normaliser writes them (see _words), found with numpy over
# a whole page's UTF-8 bytes instead of a Python string per word, which cost ~100 µs a paper:
# a word is a run of spaces and what follows up to the next space; the same word has the same
# hash; every occurrence is then compared byte by byte with the first one of its hash, so a
# collision is caught (and the page found the slow way), never silently merged.
_HASH_MULTIPLIER = 0x100000001B3  # FNV's 64-bit prime
_hash_powers: npt.NDArray[np.uint64] = np.ones(1, dtype=np.uint64)
# A page's distinct words (UTF-8 with spaces, or str as the normaliser writes them), each word
# occurrence's column among them, and each text's count of words.
PageWords = tuple[list[bytes] | list[str], npt.NDArray[np.int64], npt.NDArray[np.int64]]


def _page_words(texts: Sequence[str]) -> PageWords | None:
    """The distinct words of ``texts``, which of them each word occurrence is (in text order),
    and how many words each text has; ``None`` when two different words have the same hash.
    No text may hold "▁" (the caller sends those whole to the tokenizer)."""
    # A space before each non-empty text: the normaliser's prepended "▁".
    blobs = [b" " + text.encode() if text else b"" for text in texts]
    sizes = np.fromiter(map(len, blobs), dtype=np.int32, count=len(blobs))
    data = np.frombuffer(b"".join(blobs), dtype=np.uint8)
    if not len(data):
        return [], np.zeros(0, dtype=np.int64), np.zeros(len(texts), dtype=np.int64)
    space = data == 32
    first = space.copy()
    first[1:] &= ~space[:-1]  # a space after something else starts a word …
    text_starts = np.cumsum(sizes, dtype=np.int32) - sizes
    first[text_starts[sizes > 0]] = True  # … and so does every text's start
    # Positions in 32 bits (a page is a few MB): half the memory traffic of numpy's default.
    starts = np.flatnonzero(first).astype(np.int32)
    word_of_byte = np.cumsum(first, dtype=np.int32) - 1
    offset = np.arange(len(data), dtype=np.int32) - starts[word_of_byte]
    hashes = np.add.reduceat((data + np.uint64(1)) * _powers(int(offset.max()) + 1)[offset], starts)
    lengths = np.diff(starts, append=len(data))
    _, first_seen, column = np.unique(hashes, return_index=True, return_inverse=True)
    # The first occurrence of each hash stands for every occurrence: check they are equal.
    model = first_seen[column]
    if not np.array_equal(lengths[model], lengths) or not np.array_equal(
        data[starts[model][word_of_byte] + offset], data
    ):
        return None
    raw = data.tobytes()
    ends = starts[first_seen] + lengths[first_seen]
    vocabulary = list(map(raw.__getitem__, map(slice, starts[first_seen].tolist(), ends.tolist())))
    text_of_word = np.searchsorted(text_starts + sizes, starts, side="right")
    per_text = np.bincount(text_of_word, minlength=len(texts)).astype(np.int64)
    return vocabulary, column.astype(np.int64), per_text


def _written(word: str | bytes) -> str:
    """A word as the tokenizer's normaliser writes it."""
    return word if isinstance(word, str) else word.decode().replace(" ", _SPACE)


def _powers(count: int) -> npt.NDArray[np.uint64]:
    """The multiplier's first ``count`` powers (mod 2**64), kept between pages."""
    global _hash_powers
    if len(_hash_powers) < count:
        size = max(count, 2 * len(_hash_powers))
        powers, power = [], 1
        for _ in range(size):  # a few thousand steps, once
            powers.append(power)
            power = power * _HASH_MULTIPLIER % 2**64
        _hash_powers = np.array(powers, dtype=np.uint64)
    return _hash_powers


def _page_words_in_python(texts: Sequence[str]) -> PageWords:
    words = [_words(text) for text in texts]
    vocabulary = list(set(chain.from_iterable(words)))
    column = dict(zip(vocabulary, range(len(vocabulary)), strict=True)).__getitem__
    per_text = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    columns = np.fromiter(
        map(column, chain.from_iterable(words)), dtype=np.int64, count=int(per_text.sum())
    )
    return vocabulary, columns, per_text


def _words(text: str) -> list[str]:
    """``text`` as the tokenizer's normaliser writes it ("▁" for each space, one in front), cut
    before each run of "▁": the pieces BPE never merges across."""
    if not text:
        return []
    if "  " in text or text.startswith(" ") or _SPACE in text:
        return _WORD.findall(_SPACE + text.replace(" ", _SPACE))
    # No runs of spaces: each space starts a word (str.split is ten times a regex's speed).
    return (_SPACE + text.replace(" ", " " + _SPACE)).split(" ")


def _count_rows(rows: Sequence[Sequence[int]], width: int) -> Any:
    """A sparse matrix whose row n counts the ids in ``rows[n]`` (ids clipped to the table, as
    WordLlama does)."""
    from scipy.sparse import csr_array

    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    ends = np.cumsum(lengths)
    total = int(ends[-1]) if len(ends) else 0
    flat = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=total)
    np.clip(flat, 0, width - 1, out=flat)
    data = np.ones(total, dtype=np.float32)
    return csr_array((data, flat, np.concatenate(([0], ends))), shape=(len(rows), width))


def _splits_into_words(config: dict[str, Any]) -> bool:
    """Whether BPE over whole texts equals BPE word by word for this tokenizer (see _SPACE)."""
    model = config.get("model") or {}
    vocab: Iterable[str] = model.get("vocab") or ()
    return (
        config.get("normalizer") == _WORDS_NORMALIZER
        and config.get("pre_tokenizer") is None
        and model.get("type") == "BPE"
        and not any(_INSIDE_SPACE.search(token) for token in vocab)
    )


# A sentence-transformer exported to ONNX (e.g. all-MiniLM-L6-v2): the folder's model file and
# the tokenizer it was trained with, in the `tokenizers` library's format.
ONNX_MODEL = "model.onnx"
ONNX_TOKENIZER = "tokenizer.json"
# all-MiniLM-L6-v2's max_seq_length; abstracts are cut at MAX_CHARS first anyway (~250 tokens).
ONNX_MAX_TOKENS = 256
ONNX_BATCH = 32
_ONNX_INPUTS = frozenset({"input_ids", "attention_mask", "token_type_ids"})


class OnnxEmbedder:
    """A contextual model run by onnxruntime: token vectors averaged over the attention mask
    (sentence-transformers' mean pooling), or the model's own sentence vector when it gives one.

    About 300 times slower than WordLlama at ingest on two cores (all-MiniLM-L6-v2: ~14
    abstracts/s, 5 ms a question), for questions in lay words found far more often; see the
    README's table of models."""

    contextual = True

    def __init__(self, name: str, session: Any, tokenizer: Tokenizer) -> None:
        self.name = name
        self._session = session
        self._tokenizer = tokenizer
        self._inputs = [i.name for i in session.get_inputs()]
        unknown = set(self._inputs) - _ONNX_INPUTS
        if unknown:
            raise EmbeddingsUnavailable(f"{name} needs inputs Paperboy does not give: {unknown}")
        self.dim = int(self._run(["probe"]).shape[1])

    @classmethod
    def load(cls, folder: Path, label: str) -> OnnxEmbedder:
        try:
            import onnxruntime
        except ImportError as error:
            raise EmbeddingsUnavailable(
                f"PAPERBOY_EMBEDDINGS={label} is an ONNX model and needs onnxruntime "
                "(pip install 'paperboy[onnx]')"
            ) from error
        from tokenizers import Tokenizer

        if not (folder / ONNX_TOKENIZER).exists():
            raise EmbeddingsUnavailable(f"{folder} has {ONNX_MODEL} but no {ONNX_TOKENIZER}")
        tokenizer = Tokenizer.from_file(str(folder / ONNX_TOKENIZER))
        tokenizer.enable_truncation(max_length=ONNX_MAX_TOKENS)
        tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]") or 0)
        options = onnxruntime.SessionOptions()
        # The arena keeps the largest batch's buffers for every shape seen: 1-2 GB at ingest.
        options.enable_cpu_mem_arena = False
        session = onnxruntime.InferenceSession(
            str(folder / ONNX_MODEL), options, providers=["CPUExecutionProvider"]
        )
        return cls(f"onnx:{label}", session, tokenizer)

    def embed(self, texts: Sequence[str]) -> Vectors:
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        # Texts of like length batched together pad least.
        order = sorted(range(len(texts)), key=lambda n: len(texts[n]))
        for start in range(0, len(order), ONNX_BATCH):
            rows = order[start : start + ONNX_BATCH]
            vectors[rows] = self._run([texts[n][:MAX_CHARS] for n in rows])
        return normalise(vectors)

    def _run(self, texts: list[str]) -> Vectors:
        encoded = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        given = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        output = np.asarray(
            self._session.run(None, {name: given[name] for name in self._inputs})[0],
            dtype=np.float32,
        )
        if output.ndim == 2:  # already one vector a text
            return output
        weights = mask[:, :, None].astype(np.float32)
        pooled: Vectors = (output * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
        return pooled


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
    return StaticEmbedder("wordllama-l2_supercat", model.embedding, model.tokenizer)


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
