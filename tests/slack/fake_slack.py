"""A fake Slack on 127.0.0.1: the Web API, response_url endpoints and a Socket Mode WebSocket.

It records every call, answers the way Slack does (``ok: false`` errors, 429 with Retry-After,
``invalid_blocks`` for messages Slack would refuse), and lets a test script the next answers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

BOT_USER = "UBOT"

# Block Kit limits Slack enforces on every message (it rejects the whole message otherwise).
LIMITS = {
    "blocks": 50,
    "section_text": 3000,
    "header_text": 150,
    "context_elements": 10,
    "button_text": 75,
    "button_value": 2000,
    "action_id": 255,
    "block_id": 255,
    "message_text": 40000,
}


def block_kit_problems(blocks: Any, text: Any = None) -> list[str]:
    """Why Slack would refuse these blocks (empty when it would accept them)."""
    problems: list[str] = []
    if blocks is None:
        if not text:
            problems.append("no_text")
        return problems
    if not isinstance(blocks, list):
        return ["blocks is not a list"]
    if len(blocks) > LIMITS["blocks"]:
        problems.append(f"{len(blocks)} blocks > {LIMITS['blocks']}")
    if isinstance(text, str) and len(text) > LIMITS["message_text"]:
        problems.append("text too long")
    block_ids: set[str] = set()
    for n, block in enumerate(blocks):
        kind = block.get("type")
        block_id = block.get("block_id")
        if block_id is not None:
            if len(block_id) > LIMITS["block_id"]:
                problems.append(f"block {n}: block_id too long")
            if block_id in block_ids:
                problems.append(f"block {n}: duplicate block_id {block_id}")
            block_ids.add(block_id)
        if kind == "section":
            body = block.get("text", {}).get("text", "")
            if not body or len(body) > LIMITS["section_text"]:
                problems.append(f"block {n}: section text of {len(body)} chars")
            accessory = block.get("accessory")
            if accessory:
                problems.extend(f"block {n}: {p}" for p in _button_problems(accessory))
        elif kind == "header":
            body = block.get("text", {})
            if (
                body.get("type") != "plain_text"
                or len(body.get("text", "")) > LIMITS["header_text"]
            ):
                problems.append(f"block {n}: bad header")
        elif kind == "context":
            elements = block.get("elements", [])
            if not elements or len(elements) > LIMITS["context_elements"]:
                problems.append(f"block {n}: {len(elements)} context elements")
            for element in elements:
                if not element.get("text") or len(element["text"]) > LIMITS["section_text"]:
                    problems.append(f"block {n}: bad context text")
        elif kind == "actions":
            for element in block.get("elements", []):
                problems.extend(f"block {n}: {p}" for p in _button_problems(element))
        elif kind != "divider":
            problems.append(f"block {n}: unknown type {kind!r}")
    return problems


def _button_problems(button: Mapping[str, Any]) -> list[str]:
    problems = []
    if button.get("type") != "button":
        return [f"unknown element {button.get('type')!r}"]
    label = button.get("text", {}).get("text", "")
    if not label or len(label) > LIMITS["button_text"]:
        problems.append(f"button text of {len(label)} chars")
    if len(button.get("value", "")) > LIMITS["button_value"]:
        problems.append("button value too long")
    if len(button.get("action_id", "")) > LIMITS["action_id"]:
        problems.append("action_id too long")
    return problems


@dataclass
class Call:
    """One request the fake received."""

    method: str
    params: dict[str, Any]
    token: str | None
    headers: dict[str, str] = field(default_factory=dict)
    answer: dict[str, Any] | None = None  # what the fake answered (scripted answers aside)

    def blocks(self) -> list[dict[str, Any]]:
        raw = self.params.get("blocks")
        if isinstance(raw, str):
            raw = json.loads(raw)
        return list(raw or [])

    def unfurls(self) -> dict[str, Any]:
        raw = self.params.get("unfurls")
        return dict(json.loads(raw) if isinstance(raw, str) else raw or {})


@dataclass
class UploadedFile:
    """A file as the fake holds it: announced, then sent, then (maybe) shared."""

    id: str
    filename: str
    length: int
    data: bytes | None = None
    content_type: str | None = None
    shared_in: str | None = None
    thread_ts: str | None = None
    initial_comment: str | None = None
    title: str | None = None

    def text(self) -> str:
        assert self.data is not None, "the bytes never arrived"
        return self.data.decode("utf-8")


@dataclass
class _Scripted:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


class FakeSlack:
    """Start with ``await FakeSlack.start()``; stop with ``await fake.close()``."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.teams: dict[str, str] = {}  # bot token -> team id, for auth.test
        self.oauth_codes: dict[str, dict[str, Any]] = {}  # code -> oauth.v2.access answer
        self.channel_errors: dict[str, str] = {}  # channel -> error chat.postMessage answers
        self.user_errors: dict[str, str] = {}  # user -> error conversations.open answers
        self.files: dict[str, UploadedFile] = {}  # file id -> what was announced and sent
        self.upload_failures = 0  # how many more byte uploads answer 500
        self.views: dict[str, dict[str, Any]] = {}  # user -> the Home tab last published
        # user id -> role flags users.info reports (is_admin, is_owner, is_primary_owner);
        # anyone not here is an ordinary member of the token's team.
        self.roles: dict[str, dict[str, bool]] = {}
        self.delays: dict[str, float] = {}  # method -> seconds Slack takes before answering
        # Calls answered to a caller still connected: with a delay, a caller that dies while
        # waiting (a SIGKILLed worker) posted nothing, as far as this fake is concerned.
        self.answered: list[Call] = []
        self._scripts: dict[str, list[_Scripted]] = {}
        self._drops: dict[str, int] = {}  # method -> how many more calls to hang up on
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.sockets: list[web.WebSocketResponse] = []
        self.socket_frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.socket_connected = asyncio.Event()

    @classmethod
    async def start(cls) -> FakeSlack:
        fake = cls()
        app = web.Application()
        app.router.add_post("/api/{method}", fake._api)
        app.router.add_get("/api/{method}", fake._api)  # slack_sdk reads users.info with GET
        app.router.add_post("/respond/{name}", fake._respond)
        app.router.add_post("/upload/{file_id}", fake._upload)
        app.router.add_get("/socket", fake._socket)
        fake._runner = web.AppRunner(app, access_log=None)
        await fake._runner.setup()
        site = web.TCPSite(fake._runner, "127.0.0.1", 0)
        await site.start()
        fake.port = fake._runner.addresses[0][1]
        return fake

    async def close(self) -> None:
        for socket in self.sockets:
            await socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self, name: str = "cmd") -> str:
        return f"{self.url}/respond/{name}"

    # -- scripting and assertions -------------------------------------------------------------

    def reply(
        self, method: str, body: dict[str, Any], *, status: int = 200,
        headers: dict[str, str] | None = None, times: int = 1,
    ) -> None:  # fmt: skip
        """Answer the next ``times`` calls to ``method`` with this instead of the default."""
        self._scripts.setdefault(method, []).extend(
            _Scripted(status, body, headers or {}) for _ in range(times)
        )

    def fail(self, method: str, error: str, *, times: int = 1) -> None:
        self.reply(method, {"ok": False, "error": error}, times=times)

    def rate_limit(self, method: str, retry_after: int = 1, *, times: int = 1) -> None:
        self.reply(
            method, {"ok": False, "error": "ratelimited"}, status=429,
            headers={"Retry-After": str(retry_after)}, times=times,
        )  # fmt: skip

    def drop(self, method: str, *, times: int = 1) -> None:
        """Hang up on the next ``times`` calls to ``method`` without answering."""
        self._drops[method] = self._drops.get(method, 0) + times

    def shared_files(self) -> list[UploadedFile]:
        return [file for file in self.files.values() if file.shared_in is not None]

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    async def wait_for(self, method: str, count: int = 1, within: float = 5.0) -> list[Call]:
        """Wait until ``method`` was called ``count`` times; returns those calls."""

        async def enough() -> list[Call]:
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.calls_to(method)) >= count)
            return self.calls_to(method)

        return await asyncio.wait_for(enough(), within)

    # -- handlers -------------------------------------------------------------------------------

    async def _record(self, call: Call) -> None:
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await _params(request)
        token = None
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            token = auth.removeprefix("Bearer ")
        token = token or params.get("token")
        call = Call(method, params, token, dict(request.headers))
        await self._record(call)
        if self.delays.get(method):
            await asyncio.sleep(self.delays[method])
            if request.transport is None or request.transport.is_closing():
                return web.Response()  # never sent: the caller is gone
        if self._drops.get(method):
            self._drops[method] -= 1
            assert request.transport is not None
            request.transport.abort()
            return web.Response()  # never sent: the connection is gone
        scripted = self._scripts.get(method)
        if scripted:
            answer = scripted.pop(0)
            return web.json_response(answer.body, status=answer.status, headers=answer.headers)
        call.answer = self._default(method, params, token)
        self.answered.append(call)
        return web.json_response(call.answer)

    def _default(self, method: str, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        if method == "auth.test":
            team = self.teams.get(token or "", "T0001")
            return {
                "ok": True, "url": "https://example.slack.com/", "team": "Example",
                "user": "paperboy", "team_id": team, "user_id": BOT_USER, "bot_id": "BBOT",
                "is_enterprise_install": False,
            }  # fmt: skip
        if method == "oauth.v2.access":
            answer = self.oauth_codes.get(str(params.get("code")))
            return answer or {"ok": False, "error": "invalid_code"}
        if method == "users.info":
            return self._user_info(str(params.get("user") or ""), token)
        if method == "apps.connections.open":
            return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"}
        if method in {"chat.postMessage", "chat.update"}:
            if params.get("channel") in self.channel_errors:
                return {"ok": False, "error": self.channel_errors[params["channel"]]}
            problems = block_kit_problems(_blocks(params), params.get("text"))
            if problems:
                return {"ok": False, "error": "invalid_blocks", "errors": problems}
            channel = params.get("channel", "C0")
            ts = params.get("ts") or f"17000{len(self.calls):05d}.000100"
            return {
                "ok": True,
                "channel": channel,
                "ts": ts,
                "message": {"text": params.get("text")},
            }
        if method == "files.getUploadURLExternal":
            return self._upload_url(params)
        if method == "files.completeUploadExternal":
            return self._complete_upload(params)
        if method == "conversations.open":
            user = str(params.get("users") or "")
            if not user or "," in user:
                return {"ok": False, "error": "invalid_arguments"}
            if user in self.user_errors:
                return {"ok": False, "error": self.user_errors[user]}
            return {"ok": True, "channel": {"id": f"D{user}"}}
        if method == "views.publish":
            return self._publish(params)
        if method == "chat.unfurl":
            raw = params.get("unfurls")
            unfurls = json.loads(raw) if isinstance(raw, str) else raw or {}
            for value in unfurls.values():
                if block_kit_problems(value.get("blocks")):
                    return {"ok": False, "error": "invalid_unfurls"}
            return {"ok": True}
        return {"ok": True}

    def _upload_url(self, params: dict[str, Any]) -> dict[str, Any]:
        filename, length = params.get("filename"), str(params.get("length") or "")
        if not filename or not length.isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{len(self.files) + 1:07d}"
        self.files[file_id] = UploadedFile(file_id, str(filename), int(length))
        return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    async def _upload(self, request: web.Request) -> web.Response:
        """The upload URL: the bytes as the body (or a multipart ``file`` field)."""
        file = self.files.get(request.match_info["file_id"])
        if file is None:
            return web.Response(status=404, text="not found")
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            field = form.get("file") or form.get("filename")
            data = field.file.read() if isinstance(field, web.FileField) else b""
        else:
            data = await request.read()
        await self._record(Call("upload", {"file_id": file.id, "bytes": len(data)}, None,
                                dict(request.headers)))  # fmt: skip
        if self.upload_failures:
            self.upload_failures -= 1
            return web.Response(status=500, text="upload failed")
        file.data, file.content_type = data, request.content_type
        return web.Response(text=f"OK - {len(data)}")

    def _complete_upload(self, params: dict[str, Any]) -> dict[str, Any]:
        raw = params.get("files")
        try:
            wanted = json.loads(raw) if isinstance(raw, str) else raw
            if not isinstance(wanted, list):
                raise TypeError("files is not a list")
            ids = [item["id"] for item in wanted]
        except (TypeError, ValueError, KeyError):
            return {"ok": False, "error": "invalid_arguments"}
        channel = params.get("channel_id")
        if channel in self.channel_errors:
            return {"ok": False, "error": self.channel_errors[channel]}
        files = [self.files.get(file_id) for file_id in ids]
        if not files or any(f is None or f.data is None for f in files):
            return {"ok": False, "error": "file_not_found"}  # never uploaded
        shared = []
        for item, file in zip(wanted, files, strict=True):
            assert file is not None and file.data is not None
            if len(file.data) != file.length:
                return {"ok": False, "error": "file_size_mismatch"}
            file.shared_in, file.title = channel, item.get("title") or file.filename
            file.thread_ts, file.initial_comment = (
                params.get("thread_ts"),
                params.get("initial_comment"),
            )
            shared.append({"id": file.id, "name": file.filename, "title": file.title,
                           "size": file.length, "channels": [channel] if channel else [],
                           "permalink": f"https://example.slack.com/files/{file.id}"})  # fmt: skip
        return {"ok": True, "files": shared}

    def _publish(self, params: dict[str, Any]) -> dict[str, Any]:
        raw = params.get("view")
        view = json.loads(raw) if isinstance(raw, str) else raw
        user = params.get("user_id")
        if not isinstance(view, dict) or not isinstance(user, str):
            return {"ok": False, "error": "invalid_arguments"}
        if view.get("type") != "home":
            return {"ok": False, "error": "invalid_arguments"}
        blocks = view.get("blocks") or []
        problems = [] if len(blocks) <= 100 else [f"{len(blocks)} blocks > 100"]
        # A Home tab takes 100 blocks; check the rest 50 at a time against message limits.
        for start in range(0, len(blocks), LIMITS["blocks"]):
            problems += block_kit_problems(blocks[start : start + LIMITS["blocks"]], "x")
        if problems:
            return {"ok": False, "error": "invalid_blocks", "errors": problems}
        self.views[user] = view
        return {"ok": True, "view": {"id": f"V{user}", **view}}

    def _user_info(self, user: str, token: str | None) -> dict[str, Any]:
        """users.info as Slack answers it (trimmed to the fields a bot with users:read gets)."""
        if not user.startswith(("U", "W")):
            return {"ok": False, "error": "user_not_found"}
        team = self.teams.get(token or "", "T0001")
        roles = {"is_admin": False, "is_owner": False, "is_primary_owner": False,
                 **self.roles.get(user, {})}  # fmt: skip
        name = user.lower()
        return {
            "ok": True,
            "user": {
                "id": user, "team_id": team, "name": name, "deleted": False, "color": "9f69e7",
                "real_name": name.title(), "tz": "Europe/Berlin",
                "tz_label": "Central European Time", "tz_offset": 3600,
                "profile": {
                    "avatar_hash": "ge3b51ca72de", "status_text": "", "status_emoji": "",
                    "real_name": name.title(), "display_name": name,
                    "real_name_normalized": name.title(), "display_name_normalized": name,
                    "team": team,
                },
                **roles,
                "is_restricted": False, "is_ultra_restricted": False, "is_bot": False,
                "is_app_user": False, "updated": 1502138686, "has_2fa": False,
            },
        }  # fmt: skip

    async def _respond(self, request: web.Request) -> web.Response:
        params = await _params(request)
        await self._record(Call("response_url", params, None, dict(request.headers)))
        if block_kit_problems(params.get("blocks"), params.get("text")):
            return web.Response(status=400, text="invalid_blocks")
        return web.Response(text="ok")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self.sockets.append(socket)
        await socket.send_json({"type": "hello", "num_connections": 1})
        self.socket_connected.set()
        async for message in socket:
            if message.type == WSMsgType.TEXT:
                await self.socket_frames.put(json.loads(message.data))
        return socket

    async def send_envelope(self, envelope: dict[str, Any]) -> None:
        await self.socket_connected.wait()
        await self.sockets[-1].send_json(envelope)


def _blocks(params: Mapping[str, Any]) -> Any:
    raw = params.get("blocks")
    return json.loads(raw) if isinstance(raw, str) else raw


async def _params(request: web.Request) -> dict[str, Any]:
    """Arguments from the body (form or JSON) and the query string, as Slack reads them."""
    if request.method == "GET":
        return dict(request.query)
    raw = await request.text()
    query = dict(request.query)
    if request.content_type == "application/json" or raw.startswith("{"):
        data = json.loads(raw) if raw else {}
        return {**query, **dict(data)}
    return {**query, **dict(parse_qsl(raw, keep_blank_values=True))}
