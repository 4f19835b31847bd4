"""The search index's fields and analyzers, and the document each paper becomes.

Queries are analyzed with the same analyzers (:mod:`bot.search_plan`), so a word typed in a search
meets the word as it was indexed.
"""

from __future__ import annotations

import itertools
import string

import tantivy

from bot.analysis import normalize
from bot.models import Paper

# Bump when the schema or an analyzer changes: an index written by another version is rebuilt.
SCHEMA_VERSION = 3
TEXT_ANALYZER = "paper_en"
NAME_ANALYZER = "paper_names"
CODE_ANALYZER = "paper_codes"
PAIR_ANALYZER = "paper_pairs"
# Free text is matched in one field holding title, abstract and author names. Title words, which
# say most about a paper, are in that field three times.
TITLE_COPIES = 3
# Words that say nothing about a paper. Free-text search leaves them out (unless nothing else
# is left), so "how do transformers handle long documents" needs neither "how" nor "do", and
# a question does not cost a scan of every paper. Quoted phrases and topics keep them.
STOP_WORDS = frozenset(
    str.split("""a about an and any are as at be been being but by can could do does did for
    from had has have how i if in into is it its me my no not of on or our should so some such than
    that the their them then there these they this those to was we were what when where which
    who whom why will with would you your paper papers find show""")
)


def register_analyzers(index: tantivy.Index) -> None:
    """Make a bare ``tantivy.Index`` on our directory able to analyze text (e.g. for snippets)."""
    Analyzers().register(index)


class Analyzers:
    """The analyzers the index uses, kept so query words are analyzed exactly like documents."""

    def __init__(self) -> None:
        builder, tokenizer, filters = tantivy.TextAnalyzerBuilder, tantivy.Tokenizer, tantivy.Filter
        self.text = (
            builder(tokenizer.simple())
            .filter(filters.remove_long(40))
            .filter(filters.lowercase())
            .filter(filters.ascii_fold())
            .filter(filters.stemmer("english"))
            .build()
        )
        # Names are not stemmed: "Hinton" must not match "Hint".
        self.names = (
            builder(tokenizer.simple())
            .filter(filters.lowercase())
            .filter(filters.ascii_fold())
            .build()
        )
        self.codes = builder(tokenizer.raw()).filter(filters.lowercase()).build()
        self.pairs = builder(tokenizer.whitespace()).build()

    def register(self, index: tantivy.Index) -> None:
        index.register_tokenizer(TEXT_ANALYZER, self.text)
        index.register_tokenizer(NAME_ANALYZER, self.names)
        index.register_tokenizer(CODE_ANALYZER, self.codes)
        index.register_tokenizer(PAIR_ANALYZER, self.pairs)


def build_schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("title", tokenizer_name=TEXT_ANALYZER)
    builder.add_text_field("text", tokenizer_name=TEXT_ANALYZER)  # title, abstract, authors
    # Stored for snippets only (the store has the full record); never searched.
    builder.add_bytes_field("abstract", stored=True, indexed=False)
    builder.add_text_field("authors", tokenizer_name=NAME_ANALYZER)
    builder.add_text_field("categories", tokenizer_name=CODE_ANALYZER, index_option="basic")
    # Adjacent stop words as one term ("of_the"): a phrase of stop words alone would otherwise
    # check positions in nearly every paper (hundreds of ms at 1M papers).
    builder.add_text_field("pairs", tokenizer_name=PAIR_ANALYZER, index_option="freq")
    builder.add_date_field("published", indexed=True, fast=True)
    return builder.build()


def document_of(paper: Paper) -> tantivy.Document:
    title = normalize(paper.title).text
    # Separate values: Tantivy leaves a position gap between them, so no phrase spans two.
    text = [*[title] * TITLE_COPIES, normalize(paper.abstract).text, *paper.authors]
    return tantivy.Document(
        id=paper.id,
        title=title,
        text=text,
        pairs=" ".join([*stop_word_pairs(paper.title), *stop_word_pairs(paper.abstract)]),
        abstract=paper.abstract.encode(),
        authors=list(paper.authors),
        categories=list(paper.categories),
        published=paper.published,
    )


def stop_word_pairs(text: str) -> list[str]:
    """ "of_the", "in_the" … for each two stop words in a row (a word with punctuation after it
    ends a sentence or clause, so it pairs with nothing; the punctuation after the second word
    is not part of the pair: "where are we?" has "are_we")."""
    words = text.lower().split()
    stop = STOP_WORDS
    pairs = itertools.pairwise(words)
    return [f"{a}_{second}" for a, b in pairs if a in stop and (second := b.rstrip(_ENDS)) in stop]


_ENDS = string.punctuation
