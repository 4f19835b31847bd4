"""A fake Discord REST API on 127.0.0.1 (port 0) that records what the bot sends.

It speaks just enough of Discord's v10 wire format for discord.py: logging in, registering
commands, interaction callbacks, follow-ups and channel messages (JSON, or multipart with
``payload_json`` and ``files[n]`` parts when a file is attached), and opening DM channels.
Channels can be told to answer 404, 403 or 429 to test delivery failures; people can close their
DMs to the bot (403, code 50007) or be unknown.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

APP_ID = 1100000000000000001
BOT_ID = 1100000000000000002
OWNER_ID = 1100000000000000003
GATEWAY_MESSAGE_CONTENT_LIMITED = 1 << 19


@dataclass(frozen=True, slots=True)
class Upload:
    """A file sent as a multipart ``files[n]`` part."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    path: str  # without the /api/v10 prefix
    query: dict[str, str]
    body: Any  # the JSON, or a multipart request's payload_json
    headers: dict[str, str]
    files: tuple[Upload, ...] = ()


@dataclass
class ChannelError:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    times: int | None = None  # answer this many times, then post normally; None: always


class FakeDiscord:
    """Start with :meth:`start`; the bot's ``discord_api_url`` is :attr:`url`."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.app_flags = GATEWAY_MESSAGE_CONTENT_LIMITED
        self.channel_errors: dict[int, ChannelError] = {}
        self.command_overrides: dict[int, list[dict[str, Any]]] = {}  # command id → overrides
        self.registered: dict[str, list[dict[str, Any]]] = {}  # "global" or guild id → commands
        self.refuse_guild: int | None = None  # a guild the bot is not in
        self.identified: dict[str, Any] | None = None  # the IDENTIFY the gateway received
        self.closed_dms: set[int] = set()  # people who do not take DMs from the bot
        self.unknown_users: set[int] = set()
        self.dm_channels: dict[int, int] = {}  # DM channel id → the person
        self.upload_error: ChannelError | None = None  # answer to any request with a file
        self.messages: list[dict[str, Any]] = []  # every message Discord said it created
        self._sockets: list[web.WebSocketResponse] = []
        self._sequence = itertools.count(1)
        self._ids = itertools.count(1200000000000000000)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        app = web.Application(middlewares=[self._record])
        prefix = "/api/v10"
        app.router.add_get(f"{prefix}/users/@me", self._me)
        app.router.add_get(f"{prefix}/oauth2/applications/@me", self._application)
        app.router.add_put(f"{prefix}/applications/{{app}}/commands", self._register)
        app.router.add_put(
            f"{prefix}/applications/{{app}}/guilds/{{guild}}/commands", self._register
        )
        app.router.add_get(
            f"{prefix}/applications/{{app}}/guilds/{{guild}}/commands/{{command}}/permissions",
            self._command_permissions,
        )
        app.router.add_post(f"{prefix}/interactions/{{id}}/{{token}}/callback", self._callback)
        app.router.add_post(f"{prefix}/webhooks/{{app}}/{{token}}", self._followup)
        app.router.add_patch(
            f"{prefix}/webhooks/{{app}}/{{token}}/messages/{{message}}", self._edit
        )
        app.router.add_delete(
            f"{prefix}/webhooks/{{app}}/{{token}}/messages/{{message}}", self._empty
        )
        app.router.add_post(f"{prefix}/channels/{{channel}}/messages", self._channel_message)
        app.router.add_post(f"{prefix}/users/@me/channels", self._open_dm)
        app.router.add_get("/gateway", self._gateway)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    @property
    def gateway_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/gateway"

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a gateway event (``INTERACTION_CREATE``…) to every connected client."""
        for socket in self._sockets:
            await socket.send_json({"op": 0, "t": event, "s": next(self._sequence), "d": data})

    async def close(self) -> None:
        for socket in self._sockets:
            await socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- what tests read -----------------------------------------------------------------

    def matching(self, method: str, path_start: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path.startswith(path_start)]

    def for_interaction(self, interaction: dict[str, Any]) -> list[Call]:
        """Every call answering one interaction: its callback, follow-ups and edits, in order."""
        token = interaction["token"]
        return [
            c
            for c in self.calls
            if c.path == f"/interactions/{interaction['id']}/{token}/callback"
            or c.path == f"/webhooks/{APP_ID}/{token}"
            or c.path.startswith(f"/webhooks/{APP_ID}/{token}/")
        ]

    async def wait_for(
        self, predicate: Callable[[list[Call]], bool], within: float = 5.0
    ) -> list[Call]:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: predicate(self.calls)), within)
        return self.calls

    async def answers(
        self, interaction: dict[str, Any], count: int = 1, within: float = 5.0
    ) -> list[Call]:
        """Wait until ``count`` calls answered ``interaction``, then return them."""
        await self.wait_for(lambda _: len(self.for_interaction(interaction)) >= count, within)
        return self.for_interaction(interaction)

    # -- handlers ------------------------------------------------------------------------

    @web.middleware
    async def _record(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        body, files = await _read_body(request)
        request["body"] = body
        path = request.path.removeprefix("/api/v10")
        call = Call(request.method, path, dict(request.query), body, dict(request.headers), files)
        try:
            if files and self.upload_error is not None:
                failure = self.upload_error
                response: web.StreamResponse = _json(failure.body, status=failure.status)
            else:
                response = await handler(request)
        except web.HTTPNotFound:
            response = _error(404, 0, "404: Not Found")
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()
        return response

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        """Discord's gateway, as far as a bot with no guilds sees it: HELLO, IDENTIFY, READY."""
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._sockets.append(socket)
        await socket.send_json({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
        async for frame in socket:
            sent = json.loads(frame.data)
            async with self._changed:
                self.calls.append(Call("WS", "/gateway", dict(request.query), sent, {}))
                self._changed.notify_all()
            if sent["op"] == 2:  # IDENTIFY
                self.identified = sent["d"]
                ready = {
                    "v": 10,
                    "user": user(BOT_ID, "Paperboy", bot=True),
                    "guilds": [],
                    "session_id": "fake-session",
                    "resume_gateway_url": self.gateway_url,
                    "application": {"id": str(APP_ID), "flags": self.app_flags},
                }
                await self.dispatch("READY", ready)
            elif sent["op"] == 1:  # HEARTBEAT
                await socket.send_json({"op": 11, "d": None, "s": None, "t": None})
        self._sockets.remove(socket)
        return socket

    async def _me(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bot test-token":
            return _error(401, 0, "401: Unauthorized")
        return _json(user(BOT_ID, "Paperboy", bot=True))

    async def _application(self, request: web.Request) -> web.Response:
        return _json(
            {
                "id": str(APP_ID),
                "name": "Paperboy",
                "icon": None,
                "description": "Research papers for your team",
                "summary": "",
                "type": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "flags": self.app_flags,
                "owner": user(OWNER_ID, "owner"),
                "team": None,
                "interactions_endpoint_url": None,
                "tags": [],
            }
        )

    async def _register(self, request: web.Request) -> web.Response:
        commands = await request.json()
        where = request.match_info.get("guild", "global")
        if where == str(self.refuse_guild):
            return _error(403, 50001, "Missing Access")
        registered = []
        for command in commands:
            registered.append(
                {
                    **command,
                    "id": str(next(self._ids)),
                    "application_id": str(APP_ID),
                    "version": str(next(self._ids)),
                    **({"guild_id": where} if where != "global" else {}),
                }
            )
        self.registered[where] = registered
        return _json(registered)

    async def _command_permissions(self, request: web.Request) -> web.Response:
        command_id = int(request.match_info["command"])
        overrides = self.command_overrides.get(command_id)
        if overrides is None:
            return _error(404, 10066, "Unknown application command permissions")
        return _json(
            {
                "id": str(command_id),
                "application_id": str(APP_ID),
                "guild_id": request.match_info["guild"],
                "permissions": overrides,
            }
        )

    async def _callback(self, request: web.Request) -> web.Response:
        payload = request["body"]
        kind = payload["type"]
        interaction = {
            "id": request.match_info["id"],
            "type": 2,
            "response_message_loading": kind == 5,
            "response_message_ephemeral": bool(payload.get("data", {}).get("flags", 0) & 64),
        }
        if kind in (4, 5, 7):
            message = self._message(0, payload.get("data") or {})
            interaction["response_message_id"] = message["id"]
            return _json(
                {"interaction": interaction, "resource": {"type": kind, "message": message}}
            )
        return _json({"interaction": interaction})

    async def _followup(self, request: web.Request) -> web.Response:
        return _json(self._message(0, request["body"], webhook_id=APP_ID))

    async def _edit(self, request: web.Request) -> web.Response:
        return _json(self._message(0, request["body"], webhook_id=APP_ID))

    async def _empty(self, request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def _channel_message(self, request: web.Request) -> web.Response:
        channel_id = int(request.match_info["channel"])
        failure = self.channel_errors.get(channel_id)
        if failure is not None:
            if failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    del self.channel_errors[channel_id]
            return _json(failure.body, status=failure.status, headers=failure.headers)
        if self.dm_channels.get(channel_id) in self.closed_dms:
            return _error(403, 50007, "Cannot send messages to this user")
        return _json(self._message(channel_id, request["body"]))

    async def _open_dm(self, request: web.Request) -> web.Response:
        """``POST /users/@me/channels``: the DM channel with one person (the same one each time)."""
        recipient = int(request["body"]["recipient_id"])
        if recipient in self.unknown_users:
            return _error(400, 50033, "Invalid Recipient(s)")
        channel_id = next((c for c, u in self.dm_channels.items() if u == recipient), None)
        if channel_id is None:
            channel_id = next(self._ids)
            self.dm_channels[channel_id] = recipient
        return _json(
            {
                "id": str(channel_id),
                "type": 1,
                "flags": 0,
                "last_message_id": None,
                "recipients": [user(recipient, f"user-{recipient}")],
            }
        )

    def _message(
        self, channel_id: int, data: dict[str, Any], webhook_id: int | None = None
    ) -> dict[str, Any]:
        attachments = [
            {
                "id": str(next(self._ids)),
                "filename": a["filename"],
                "size": 0,
                "url": f"https://cdn.discordapp.com/attachments/{channel_id}/{a['filename']}",
                "proxy_url": f"https://media.discordapp.net/attachments/{a['filename']}",
            }
            for a in data.get("attachments") or []
        ]
        created = message(
            next(self._ids),
            channel_id,
            author=user(BOT_ID, "Paperboy", bot=True),
            content=data.get("content") or "",
            embeds=data.get("embeds") or [],
            components=data.get("components") or [],
            flags=data.get("flags") or 0,
            webhook_id=webhook_id,
            attachments=attachments,
        )
        self.messages.append(created)
        return created


async def _read_body(request: web.Request) -> tuple[Any, tuple[Upload, ...]]:
    """The JSON a request carries, and its files when it is multipart (as with attachments)."""
    if not request.can_read_body:
        return None, ()
    if request.content_type == "application/json":
        return await request.json(), ()
    if request.content_type != "multipart/form-data":
        return None, ()
    body: Any = None
    files: list[Upload] = []
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        assert isinstance(part, BodyPartReader)
        if part.name == "payload_json":
            body = json.loads(await part.text())
        elif part.name and part.name.startswith("files["):
            content_type = part.headers.get("Content-Type", "application/octet-stream")
            files.append(Upload(part.filename or "", content_type, bytes(await part.read())))
    return body, tuple(files)


def user(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name,
        "global_name": name,
        "discriminator": "0",
        "avatar": None,
        "public_flags": 0,
        "bot": bot,
    }


def message(
    message_id: int,
    channel_id: int,
    *,
    author: dict[str, Any],
    content: str = "",
    embeds: list[dict[str, Any]] | None = None,
    components: list[dict[str, Any]] | None = None,
    flags: int = 0,
    webhook_id: int | None = None,
    attachments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": str(message_id),
        "channel_id": str(channel_id),
        "type": 0,
        "author": author,
        "content": content,
        "timestamp": "2026-11-26T18:00:00.000000+00:00",
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": attachments or [],
        "embeds": embeds or [],
        "components": components or [],
        "pinned": False,
        "flags": flags,
    }
    if webhook_id is not None:
        payload["webhook_id"] = str(webhook_id)
        payload["application_id"] = str(APP_ID)
    return payload


def _json(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON the way Discord sends it: discord.py wants exactly ``application/json``."""
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={**(headers or {}), "Content-Type": "application/json"},
    )


def _error(status: int, code: int, text: str) -> web.Response:
    return _json({"message": text, "code": code}, status=status)
