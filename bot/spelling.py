"""How people type Paperboy's commands on each platform: data the core writes help and hints from.

The core names a command by its group and words (``channel`` + ``subscribe <topic>``); a
platform's :class:`Spelling` says which top-level command each group is typed under and, where
the platform shows arguments differently (Discord's named options), how each usage reads. Adapters
never rewrite the core's text: they get it already spelled for their platform.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

# ``papers``: what anyone may do; ``channel``: changes the channel's settings. Discord sets
# default member permissions per top-level command, so there the two are typed apart.
CommandGroup = Literal["papers", "channel"]


@dataclass(frozen=True, slots=True)
class Spelling:
    """How commands are typed on one platform.

    ``prefixes`` holds the top-level command each group is typed under; ``usages`` holds a
    command's usage (name and arguments) where the platform shows it differently from the core.
    """

    prefixes: Mapping[CommandGroup, str]
    usages: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def typed(self, group: CommandGroup, words: str) -> str:
        """``words`` as typed here: ``typed("channel", "subscribe cat:cs.CL")`` →
        ``/papers-channel subscribe cat:cs.CL`` on Discord."""
        return f"{self.prefixes[group]} {words}".rstrip()

    def usage(self, group: CommandGroup, name: str, core_usage: str) -> str:
        """A command's usage for help: the platform's own where it has one, else the core's."""
        return self.typed(group, self.usages.get(name, core_usage))


SLASH_COMMAND = Spelling(MappingProxyType({"papers": "/papers", "channel": "/papers"}))
"""Slack's ``/papers`` slash command (the console accepts the same, with or without ``/papers``)."""

DISCORD = Spelling(
    MappingProxyType({"papers": "/papers", "channel": "/papers-channel"}),
    # Slash-command options as Discord lists them; tests/discord checks them against the tree.
    usages=MappingProxyType(
        {
            "search": "search query [share]",
            "show": "show paper",
            "similar": "similar paper",
            "trending": "trending [span]",
            "subscribe": "subscribe topic",
            "unsubscribe": "unsubscribe topic",
            "vote": "vote paper",
            "share": "share paper [comment]",
            "top": "top [span]",
            "schedule": "schedule [time] [timezone] [days] [picks] [quiet_days]",
            "save": "save paper",
            "unsave": "unsave paper",
            "read": "read paper",
            "export": "export [format] [saved]",
            "present": "present paper [date] [cancel]",
        }
    ),
)

# Workspace settings as typed after ``settings``: each name with the values it takes, the default
# first. Typed the same on every platform that offers them (Slack, and the console).
CHANNEL_CHANGES = "channel-changes"
WORKSPACE_SETTINGS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {CHANNEL_CHANGES: ("everyone", "admins")}
)

SPELLINGS: Mapping[str, Spelling] = MappingProxyType(
    {"slack": SLASH_COMMAND, "console": SLASH_COMMAND, "discord": DISCORD}
)


def spelling_for(platform: str) -> Spelling:
    """The platform's spelling; one without its own table types commands as Slack does."""
    return SPELLINGS.get(platform, SLASH_COMMAND)
