"""A synthetic but realistic corpus of papers for benchmarks, generated in batches.

Words come from the abstracts on the seed page (real research vocabulary, most frequent first)
plus a long tail of made-up rare terms, drawn with a Zipf-like law; lengths, author lists,
categories and dates follow what arXiv listings look like.
"""

from __future__ import annotations

import itertools
import json
import random
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.models import Paper

SAMPLE_FILE = Path(__file__).resolve().parents[1] / "bot/data/sample_papers.json"
DEFAULT_SEED_PAGE = Path(__file__).resolve().parents[2] / "shared/seed/daily-papers-page.txt"
_ZIPF_EXPONENT = 1.07
_RARE_TERMS = 150_000
_POOL_SIZE = 1 << 22
_FUNCTION_WORDS = 50  # the most frequent words: "the", "of", "and", "we", ...
_FIRST = datetime(2015, 1, 1, tzinfo=UTC)
_DAYS = 3_830  # to mid-2025
_CATEGORIES = (
    ("cs.LG", 20), ("cs.CV", 16), ("cs.CL", 14), ("cs.AI", 10), ("stat.ML", 6), ("cs.RO", 4),
    ("cs.IR", 3), ("cs.CR", 3), ("eess.IV", 3), ("cs.SD", 2), ("eess.AS", 2), ("cs.NE", 2),
    ("math.OC", 2), ("cs.DC", 2), ("cs.HC", 2), ("q-bio.NC", 1), ("physics.comp-ph", 1),
    ("cond-mat.dis-nn", 1), ("cs.IT", 1), ("eess.SP", 1),
)  # fmt: skip
_GIVEN = (
    "Wei", "Yang", "Jing", "Li", "Hao", "Xin", "Yu", "Ming", "Anna", "David", "Maria", "John",
    "Sarah", "Michael", "Laura", "Pierre", "Jörg", "Zoë", "José", "Łukasz", "Søren", "Ahmed",
    "Priya", "Rahul", "Ananya", "Kenji", "Yuki", "Hyun", "Ji-woon", "Olga", "Ivan", "Chiara",
    "Luca", "Fatima", "Omar", "Noam", "Tal", "Emma", "Lucas", "Sofía", "Mateo", "Aisha",
)  # fmt: skip
_FAMILY = (
    "Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Smith",
    "Johnson", "Brown", "Müller", "Schmidt", "Wübben", "Dubois", "Rossi", "García", "Martínez",
    "Kowalski", "Nielsen", "Kumar", "Sharma", "Gupta", "Tanaka", "Suzuki", "Kim", "Park", "Lee",
    "Ivanov", "Cohen", "Levi", "Khan", "Ali", "Nguyen", "Tran", "Silva", "Santos", "Ødegård",
)  # fmt: skip
_SYLLABLES = (
    "ka", "ro", "mi", "ten", "vo", "lex", "tra", "neu", "gra", "phi", "zor", "qu", "in", "ex",
    "ber", "lo", "sa", "dy", "mo", "fer", "tok", "ra", "ni", "gen", "xa", "pol", "um", "ri",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Vocabulary:
    words: tuple[str, ...]  # most frequent first
    num_real: int  # words[:num_real] come from the seed page; the rest is the made-up tail

    @classmethod
    def load(
        cls, seed_page: Path = DEFAULT_SEED_PAGE, rng: random.Random | None = None
    ) -> Vocabulary:
        rng = rng or random.Random(7)
        abstracts = _read_abstracts(seed_page)
        counts = Counter(w for text in abstracts for w in re.findall(r"[\w][\w'-]*", text))
        common = [word for word, _ in counts.most_common()]
        # Real corpora keep meeting new terms (model names, datasets, jargon): the long tail.
        rare = {_made_up(rng) for _ in range(_RARE_TERMS)} - set(common)
        return cls(tuple(common) + tuple(sorted(rare)), len(common))


class Corpus:
    """Papers ``0..n-1``; the same seed gives the same papers."""

    def __init__(self, vocabulary: Vocabulary, seed: int = 1) -> None:
        self.vocabulary = vocabulary
        self._rng = random.Random(seed)
        weights = [1 / (rank**_ZIPF_EXPONENT) for rank in range(1, len(vocabulary.words) + 1)]
        cumulative = list(itertools.accumulate(weights))
        draws = self._rng.choices(vocabulary.words, cum_weights=cumulative, k=_POOL_SIZE)
        # Sentences end now and then; abstracts are slices of this one long stream of words.
        self._pool = [w + "." if self._rng.random() < 0.05 else w for w in draws]
        self._rank = {word: rank for rank, word in enumerate(vocabulary.words)}
        names = [f"{g} {f}" for g in _GIVEN for f in _FAMILY]
        names += [
            f"{self._rng.choice(_GIVEN)} {_made_up(self._rng).title()}" for _ in range(60_000)
        ]
        self.authors = names
        self._author_weights = list(
            itertools.accumulate(1 / (rank**0.8) for rank in range(1, len(names) + 1))
        )
        self._categories = [code for code, _ in _CATEGORIES]
        self._category_weights = list(itertools.accumulate(w for _, w in _CATEGORIES))

    def batches(self, total: int, size: int) -> Iterator[list[Paper]]:
        for start in range(0, total, size):
            yield [self.paper(n) for n in range(start, min(start + size, total))]

    def paper(self, n: int) -> Paper:
        rng = self._rng
        published = _FIRST + timedelta(days=rng.randrange(_DAYS), seconds=rng.randrange(86_400))
        return Paper(
            id=_arxiv_id(n),
            title=self._title(),
            abstract=" ".join(self._words(rng.randint(110, 260))).capitalize(),
            authors=tuple(self._authors()),
            published=published,
            categories=tuple(self._category_list()),
            first_seen=published,
        )

    def phrase(self, length: int) -> str:
        """Adjacent words from some abstract, not all of them function words: people quote
        "the loss landscape", not "of the"."""
        while True:
            words = [w.rstrip(".") for w in self._words(length)]
            if any(self._rank.get(w, 0) >= _FUNCTION_WORDS for w in words):
                return " ".join(words)

    def _words(self, count: int) -> list[str]:
        start = self._rng.randrange(len(self._pool) - count)
        return self._pool[start : start + count]

    def _title(self) -> str:
        words = [w.rstrip(".").capitalize() for w in self._words(self._rng.randint(5, 14))]
        if self._rng.random() < 0.3:
            words[0] = _made_up(self._rng).title() + ":"  # "Polyhistor: Parameter-Efficient..."
        return " ".join(words)

    def _authors(self) -> list[str]:
        count = min(1 + int(self._rng.expovariate(1 / 4)), 40)
        chosen = self._rng.choices(self.authors, cum_weights=self._author_weights, k=count)
        return list(dict.fromkeys(chosen))

    def _category_list(self) -> list[str]:
        count = self._rng.choice((1, 1, 2, 2, 3))
        chosen = self._rng.choices(self._categories, cum_weights=self._category_weights, k=count)
        return list(dict.fromkeys(chosen))


def _arxiv_id(n: int) -> str:
    # Spread over ten years of months so ids look like arXiv's and stay unique up to ~13M.
    month = n % 132
    return f"{15 + month // 12:02d}{1 + month % 12:02d}.{n // 132:05d}"


def _made_up(rng: random.Random) -> str:
    word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))
    return word + str(rng.randint(1, 99)) if rng.random() < 0.15 else word


def _read_abstracts(path: Path) -> list[str]:
    """On the saved page each abstract is one long line; without the page, the bundled sample
    (built from that same page) gives the same words."""
    if not path.is_file():
        bundled = json.loads(SAMPLE_FILE.read_text("utf-8"))
        return [paper["abstract"] for paper in bundled["papers"]]
    abstracts = [line for line in path.read_text("utf-8").splitlines() if len(line) > 400]
    if not abstracts:
        raise ValueError(f"{path} has no abstracts to learn words from")
    return abstracts
