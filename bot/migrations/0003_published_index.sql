-- Trending and digests look papers up by publication date as well as by first-seen time.
CREATE INDEX papers_published ON papers (published);
