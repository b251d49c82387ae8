"""WebSocket helpers: one JSON-RPC call over a socket, the next event notification."""

from __future__ import annotations

import asyncio


async def next_event(ws, timeout: float = 5.0) -> dict:
    while True:
        msg = await asyncio.wait_for(ws.receive_json(), timeout)
        if msg.get("method") == "event":
            return msg["params"]


async def call(ws, method: str, params: dict, rid: int = 1) -> dict:
    await ws.send_json({"jsonrpc": "2.0", "method": method, "params": params, "id": rid})
    while True:
        msg = await asyncio.wait_for(ws.receive_json(), 5)
        if msg.get("id") == rid:
            return msg
