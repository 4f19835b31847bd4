-- PostgreSQL dialect of bot/migrations/0003_published_index.sql.
-- Trending and digests look papers up by publication date as well as by first-seen time.
CREATE INDEX papers_published ON papers (published);
