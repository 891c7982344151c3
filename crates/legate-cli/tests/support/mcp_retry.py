"""What a model sees of legate's tools, through the official Python SDK (as Hermes uses it).

Usage: mcp_retry.py LEGATE_BIN LEGATE_HOME RESULT_CHARS

Exits 0 printing OK, or fails with an AssertionError naming the step.
"""

import asyncio
import json
import os
import subprocess
import sys
from datetime import timedelta

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import McpError


def answer(result, step):
    """A tool's answer: the JSON of its one text block."""
    assert not result.isError, f"{step} failed: {result.content}"
    assert result.structuredContent is None, f"{step}: the answer is sent twice"
    assert len(result.content) == 1, f"{step}: {result.content}"
    return json.loads(result.content[0].text)


def stored(legate, home):
    """Every task in the store, as `legate ls --json` shows them."""
    out = subprocess.run([legate, "ls", "--json", "--limit", "100000"],
                         env={**os.environ, "LEGATE_HOME": home}, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


async def flow(session, legate, home, result_chars):
    await session.initialize()
    tools = {t.name: t for t in (await session.list_tools()).tools}

    # The descriptions say results come by themselves, and when waiting is right.
    for name in ["delegate", "task_wait", "task_result"]:
        d = tools[name].description
        assert "finished_since_last_call" in d, (name, d)
        assert "nothing else to do" in d, (name, d)
    wait_doc = tools["delegate"].inputSchema["properties"]["wait"]["description"]
    assert "finished_since_last_call" in wait_doc and "same" in wait_doc, wait_doc

    # A waiting delegation the client times out, then makes again word for word: one task.
    call = {"agent": "fake", "prompt": "sleep 3000; print once", "wait": True}
    try:
        await session.call_tool("delegate", call, read_timeout_seconds=timedelta(seconds=1))
        raise AssertionError("the first call should have timed out")
    except McpError as e:
        assert "Timed out" in str(e), e
    again = answer(await session.call_tool("delegate", call), "the repeated delegate")
    assert again["deduplicated"] is True, again
    assert again["task"]["status"] == "succeeded" and again["task"]["result"] == "once\n", again
    tasks = stored(legate, home)
    assert [t["id"] for t in tasks] == [again["task"]["task_id"]], tasks

    # A different prompt is a new task.
    other = answer(await session.call_tool(
        "delegate", {**call, "prompt": "print other"}), "another delegate")
    assert other["deduplicated"] is False, other
    assert other["task"]["task_id"] != again["task"]["task_id"], other
    # So is the same call once its result has been read.
    later = answer(await session.call_tool("delegate", call), "the same delegate, later")
    assert later["deduplicated"] is False, later
    assert later["task"]["task_id"] not in (again["task"]["task_id"], other["task"]["task_id"])
    assert len(stored(legate, home)) == 3

    # A long result: the text a model reads stays bounded, and the whole result is there once.
    lines = [f"line {i:05d} of the long result" for i in range(400)]
    big = await session.call_tool("delegate", {
        "agent": "fake", "prompt": "\n".join("print " + line for line in lines), "wait": True})
    text = big.content[0].text
    bound = result_chars + 1500
    assert len(text) < bound, f"the answer is {len(text)} characters, over {bound}"
    done = answer(big, "the long delegate")
    assert done["task"]["result"].endswith("line 00399 of the long result\n"), done["task"]
    assert text.count("line 00399") == 1, "the end of the result is shown once"
    assert "full_result" in done["task"], done["task"]
    uri = f"legate://tasks/{done['task']['task_id']}"
    assert uri in done["task"]["full_result"], done["task"]
    read = await session.read_resource(uri)
    whole = json.loads("".join(getattr(c, "text", "") for c in read.contents))
    assert whole["result"] == "".join(line + "\n" for line in lines), whole


async def main():
    legate, home, result_chars = sys.argv[1], sys.argv[2], int(sys.argv[3])
    env = {k: v for k, v in os.environ.items() if k not in ("LEGATE_ORIGIN", "LEGATE_DEPTH")}
    env["LEGATE_HOME"] = home
    params = StdioServerParameters(command=legate, args=["mcp"], env=env)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await flow(session, legate, home, result_chars)
    print("OK")


asyncio.run(main())
