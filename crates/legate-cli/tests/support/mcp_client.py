"""An independent MCP client (the official Python SDK, pinned) driving legate's MCP server.

Usage: mcp_client.py stdio   LEGATE_BIN LEGATE_HOME
       mcp_client.py http    LEGATE_BIN LEGATE_HOME URL TOKEN
       mcp_client.py origins LEGATE_BIN LEGATE_HOME PROJECT OTHER_PROJECT

Runs the whole delegation flow and exits 0, or fails with an AssertionError naming the step.
"""

import asyncio
import json
import os
import subprocess
import sys

import httpx
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamablehttp_client


def structured(result, step):
    """A tool's answer: the JSON of its one text block (sent once, no structured copy)."""
    assert not result.isError, f"{step} failed: {result.content}"
    assert result.structuredContent is None, f"{step}: the answer is sent twice"
    assert len(result.content) == 1, f"{step}: {result.content}"
    return json.loads(result.content[0].text)


def text(result):
    return "".join(getattr(b, "text", "") for b in result.content)


async def flow(session, legate, home):
    await session.initialize()
    names = sorted(t.name for t in (await session.list_tools()).tools)
    assert names == ["delegate", "list_agents", "task_cancel", "task_diff", "task_list",
                     "task_merge", "task_result", "task_send", "task_status", "task_wait"], names

    agents = structured(await session.call_tool("list_agents", {}), "list_agents")
    assert "fake" in [a["name"] for a in agents["agents"]], agents

    # Three delegations at once, then gather them.
    started = await asyncio.gather(*[
        session.call_tool("delegate", {"agent": "fake", "prompt": f"sleep 100; print py-{i}"})
        for i in range(3)
    ])
    ids = [structured(r, "delegate")["task"]["task_id"] for r in started]
    gathered = structured(await session.call_tool(
        "task_wait", {"task_ids": ids, "mode": "all", "timeout_secs": 60}), "task_wait")
    assert not gathered["timed_out"]
    assert [t["result"] for t in gathered["tasks"]] == [f"py-{i}\n" for i in range(3)], gathered

    # Progress while waiting.
    slow = structured(await session.call_tool(
        "delegate", {"agent": "fake", "prompt": "sleep 2500; print slow"}), "delegate")
    progress = []

    async def on_progress(done, total, message):
        progress.append((done, total, message))

    waited = structured(await session.call_tool(
        "task_wait", {"task_ids": [slow["task"]["task_id"]]}, progress_callback=on_progress),
        "task_wait with progress")
    assert waited["tasks"][0]["status"] == "succeeded", waited
    assert progress, "no progress notification arrived"
    assert progress[0][1] == 1 and "0 of 1 finished" in progress[0][2], progress

    # A finish seen elsewhere is reported in the next response, once.
    # (A fast task may already finish before the delegate response is made: then that
    # response reports it, and the next one does not.)
    delegated = structured(await session.call_tool(
        "delegate", {"agent": "fake", "prompt": "print news"}), "delegate")
    news = delegated["task"]["task_id"]
    subprocess.run([legate, "wait", news], env={**os.environ, "LEGATE_HOME": home,
                                                "LEGATE_ORIGIN": "someone-else"}, check=True,
                   stdout=subprocess.DEVNULL)
    first = structured(await session.call_tool("list_agents", {}), "list_agents")
    reported = [f["task_id"] for f in delegated["finished_since_last_call"]
                + first["finished_since_last_call"]]
    assert reported == [news], (delegated, first)
    again = structured(await session.call_tool("list_agents", {}), "list_agents")
    assert again["finished_since_last_call"] == [], again

    # Sync mode.
    sync = structured(await session.call_tool(
        "delegate", {"agent": "fake", "prompt": "print synchronous", "wait": True}), "sync")
    assert sync["task"]["status"] == "succeeded" and sync["task"]["result"] == "synchronous\n"

    # A wait that times out, then a cancel.
    hang = structured(await session.call_tool(
        "delegate", {"agent": "fake", "prompt": "sleep 60000"}), "delegate")["task"]["task_id"]
    timed = structured(await session.call_tool(
        "task_wait", {"task_ids": [hang], "timeout_secs": 1}), "task_wait timeout")
    assert timed["timed_out"] is True
    canceled = structured(await session.call_tool("task_cancel", {"task_id": hang}), "cancel")
    assert canceled["task"]["status"] == "canceled"

    # Errors are tool errors a model can read.
    unknown = await session.call_tool("delegate", {"agent": "nope", "prompt": "x"})
    assert unknown.isError and "unknown agent 'nope'" in text(unknown), text(unknown)
    assert "- fake: scripted fake agent" in text(unknown)


async def session_in(legate, home, cwd, step):
    """Runs `step(session)` in a new `legate mcp` that a host named py-host started in `cwd`."""
    env = {k: v for k, v in os.environ.items() if k not in ("LEGATE_ORIGIN", "LEGATE_DEPTH")}
    env["LEGATE_HOME"] = home
    params = StdioServerParameters(command=legate, args=["mcp"], env=env, cwd=cwd)
    host = types.Implementation(name="py-host", version="1")
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, client_info=host) as session:
            await session.initialize()
            return await step(session)


async def news(session):
    answer = structured(await session.call_tool("list_agents", {}), "list_agents")
    return [t["task_id"] for t in answer["finished_since_last_call"]]


async def origins(legate, home, project, other):
    """A result the first session left unread reaches a later session of the same host in
    the same project, once, and never a session in another project."""
    async def delegate(session):
        d = structured(await session.call_tool(
            "delegate", {"agent": "fake", "prompt": "print left for later"}), "delegate")
        return d["task"]["task_id"]
    task = await session_in(legate, home, project, delegate)
    env = {**os.environ, "LEGATE_HOME": home}
    subprocess.run([legate, "wait", "--timeout", "60s", task], env=env, check=True,
                   capture_output=True)
    assert await session_in(legate, home, other, news) == [], "another project"

    async def twice(session):
        return await news(session), await news(session)
    first, second = await session_in(legate, home, project, twice)
    assert first == [task] and second == [], (first, second)


async def main():
    mode, legate, home = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode == "origins":
        await origins(legate, home, sys.argv[4], sys.argv[5])
    elif mode == "stdio":
        env = {k: v for k, v in os.environ.items() if k not in ("LEGATE_ORIGIN", "LEGATE_DEPTH")}
        env["LEGATE_HOME"] = home
        params = StdioServerParameters(command=legate, args=["mcp"], env=env)
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                await flow(session, legate, home)
    else:
        url, token = sys.argv[4], sys.argv[5]
        async with httpx.AsyncClient() as http:
            hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "t", "version": "0"}}}
            accept = {"Accept": "application/json, text/event-stream"}
            missing = await http.post(url, json=hello, headers=accept)
            assert missing.status_code == 401 and "missing bearer token" in missing.text, missing.text
            wrong = await http.post(url, json=hello,
                                    headers={**accept, "Authorization": "Bearer not-it"})
            assert wrong.status_code == 401 and "wrong bearer token" in wrong.text, wrong.text
        headers = {"Authorization": f"Bearer {token}"}
        async with streamablehttp_client(url, headers=headers) as (read, write, _):
            async with ClientSession(read, write) as session:
                await flow(session, legate, home)
    print("OK")


asyncio.run(main())
