"""The command line as a new user meets it: real processes, real files, no network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def paperboy(
    *args: str, env_dir: Path, stdin: str = "", extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PAPERBOY_", "SLACK_", "DISCORD_"))
    }
    env.update(
        {
            "PAPERBOY_DB": str(env_dir / "paperboy.db"),
            # Nothing listens on port 9: a live lookup fails fast instead of reaching the internet.
            "PAPERBOY_ARXIV_URL": "http://127.0.0.1:9",
            "PAPERBOY_HF_URL": "http://127.0.0.1:9",
            "PAPERBOY_HTTP_TIMEOUT": "2",
            **(extra_env or {}),
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "adapters", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=env_dir,
        timeout=120,
    )


def test_demo_loads_the_sample_and_answers_a_scripted_chat(tmp_path: Path) -> None:
    result = paperboy(
        "demo",
        env_dir=tmp_path,
        stdin="help\nsearch dense retrieval\nschedule 9 Mars/Olympus\nquit\n",
    )
    assert result.returncode == 0, result.stderr
    assert "Loaded the bundled sample" in result.stderr
    assert "search <query>" in result.stdout
    assert "Dense Retrieval" in result.stdout
    assert "not a timezone I know" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_demo_twice_does_not_load_the_sample_again(tmp_path: Path) -> None:
    paperboy("demo", env_dir=tmp_path)
    again = paperboy("demo", env_dir=tmp_path, stdin="trending week\n")
    assert "Loaded the bundled sample" not in again.stderr
    assert "Trending this week" in again.stdout


def test_search_json_gives_ids_titles_and_scores(tmp_path: Path) -> None:
    paperboy("ingest", "sample", env_dir=tmp_path)
    result = paperboy("search", "mixture", "of", "experts", "--json", env_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert rows and {"id", "title", "authors", "published", "upvotes", "score"} <= set(rows[0])
    assert rows == sorted(rows, key=lambda row: -row["score"])
    assert all(row["id"].startswith("sample-") for row in rows)


def test_search_json_reads_a_typo_and_says_so_beside_the_json(tmp_path: Path) -> None:
    paperboy("ingest", "sample", env_dir=tmp_path)
    typed = paperboy("search", "mixtrue", "of", "experts", "--json", env_dir=tmp_path)
    right = paperboy("search", "mixture", "of", "experts", "--json", env_dir=tmp_path)
    assert typed.returncode == 0, typed.stderr
    assert json.loads(typed.stdout) == json.loads(right.stdout)
    assert "Read “mixtrue” as “mixture”" in typed.stderr
    assert "Read" not in right.stderr


def test_a_bad_query_from_the_shell_is_one_clear_line(tmp_path: Path) -> None:
    result = paperboy("search", "since:yesterday", env_dir=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("paperboy: ")
    assert "Traceback" not in result.stderr


def test_unreachable_source_changes_nothing_and_says_why(tmp_path: Path) -> None:
    paperboy("ingest", "sample", env_dir=tmp_path)
    result = paperboy("ingest", "hf", "--date", "2026-11-26", env_dir=tmp_path)
    assert result.returncode == 1
    assert "nothing changed" in result.stdout
    status = paperboy("status", env_dir=tmp_path)
    assert "Papers stored: 75" in status.stdout
    assert "Hugging Face: last successful fetch never; last error" in status.stdout


def test_index_rebuild_and_backup(tmp_path: Path) -> None:
    paperboy("ingest", "sample", env_dir=tmp_path)
    assert "75 papers" in paperboy("index", "rebuild", env_dir=tmp_path).stdout
    backup = paperboy("db", "backup", str(tmp_path / "copy.db"), env_dir=tmp_path)
    assert backup.returncode == 0 and (tmp_path / "copy.db").stat().st_size > 0


def test_digest_dry_run_for_the_console_channel(tmp_path: Path) -> None:
    paperboy("ingest", "sample", env_dir=tmp_path)
    result = paperboy("digest", "#general", "--dry-run", env_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Today's trending papers" in result.stdout


@pytest.mark.parametrize(
    ("name", "value"), [("PAPERBOY_HF_URL", "nonsense"), ("PAPERBOY_LOG_LEVEL", "LOUD")]
)
def test_bad_settings_are_one_clear_line(tmp_path: Path, name: str, value: str) -> None:
    result = paperboy("status", env_dir=tmp_path, extra_env={name: value})
    assert result.returncode == 2
    assert name in result.stderr and "Traceback" not in result.stderr


def test_run_without_platform_tokens_runs_the_console_with_the_scheduler(tmp_path: Path) -> None:
    paperboy("ingest", "sample", env_dir=tmp_path)
    result = paperboy("run", env_dir=tmp_path, stdin="status\n")
    assert result.returncode == 0, result.stderr
    assert "Papers stored: 75" in result.stdout
    assert "running the console" in result.stderr


def test_run_offline_on_an_empty_database_falls_back_to_the_sample(tmp_path: Path) -> None:
    result = paperboy("run", env_dir=tmp_path, stdin="search mixture of experts\n")
    assert result.returncode == 0, result.stderr
    assert "loaded the 75 sample papers" in result.stderr
    assert "Mixture-of-Experts" in result.stdout


def test_export_prints_the_teams_papers_or_a_reading_list(tmp_path: Path) -> None:
    chat = paperboy(
        "demo", env_dir=tmp_path, stdin="vote sample-002\nvote sample-001\nsave sample-003\n"
    )
    assert chat.returncode == 0, chat.stderr
    csv_out = paperboy("export", "--format", "csv", env_dir=tmp_path)
    assert csv_out.returncode == 0, csv_out.stderr
    lines = csv_out.stdout.splitlines()
    assert lines[0].startswith("id,title,authors,published,votes,url")
    assert [line.split(",")[0] for line in lines[1:]] == ["sample-001", "sample-002"]
    bib = paperboy("export", "#general", "--saved-by", "you", env_dir=tmp_path)
    assert bib.returncode == 0, bib.stderr
    assert bib.stdout.startswith("@misc{") and bib.stdout.count("@misc{") == 1
    wrong = paperboy("export", "--format", "pdf", env_dir=tmp_path)
    assert wrong.returncode == 2 and "--format must be bibtex or csv" in wrong.stderr
    empty = paperboy("export", "#random", "--saved-by", "nobody", env_dir=tmp_path)
    assert empty.returncode == 1 and "reading list is empty" in empty.stderr
    assert "Traceback" not in csv_out.stderr + bib.stderr + wrong.stderr + empty.stderr
