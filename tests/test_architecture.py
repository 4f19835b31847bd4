"""Ports and adapters, checked: the core never reaches for a platform or an adapter, and docs
match commands."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bot.commands import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
PLATFORM_LIBRARIES = ("slack_bolt", "slack_sdk", "discord", "aiohttp")
CORE_MODULES = sorted((ROOT / "bot").rglob("*.py"))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", CORE_MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_core_never_imports_a_chat_platform(path: Path) -> None:
    platform = {m for m in _imports(path) if m.split(".")[0] in PLATFORM_LIBRARIES}
    assert not platform, f"{path.name} imports {platform}"


@pytest.mark.parametrize("path", CORE_MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_core_never_imports_an_adapter(path: Path) -> None:
    # The command line and the runner wire adapters in from adapters/; the core stays below them.
    adapters = {m for m in _imports(path) if m.split(".")[0] == "adapters"}
    assert not adapters, f"{path.name} imports {adapters}"


def test_every_command_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    missing = [spec.usage for spec in COMMANDS.values() if f"`{spec.name}" not in readme]
    assert not missing


def test_command_names_and_aliases_do_not_collide() -> None:
    from bot.commands import _ALIASES

    assert not set(_ALIASES) & set(COMMANDS)
    assert set(_ALIASES.values()) <= set(COMMANDS)
