"""Rebuild ``bot/data/sample_papers.json`` from the text of a Hugging Face Daily Papers page.

Usage: python scripts/build_sample.py PAGE.txt [--out bot/data/sample_papers.json]

PAGE.txt is the page as text: a few header lines ending in its date (``Mar 14``), then each
paper's title line and abstract line. See bot/sources/sample.py for what the JSON holds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.sources.sample import build_document, read_entries

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "bot" / "data" / "sample_papers.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("page", type=Path, help="the Daily Papers page saved as text")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the JSON")
    args = parser.parse_args(argv)
    try:
        document = build_document(args.page.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        print(f"build_sample: {exc}", file=sys.stderr)
        return 1
    args.out.write_text(document, encoding="utf-8")
    print(f"wrote {len(read_entries(document))} papers to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
