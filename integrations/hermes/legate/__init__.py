"""legate for Hermes (hermes-agent 0.19): results of tasks delegated through legate wake an idle
interactive session, as Hermes' own background delegation does.

Tasks a session delegates through legate's MCP server carry the origin ``hermes:<session id>``
(``legate hook hermes``, Hermes' ``pre_llm_call`` shell hook, registers it for the MCP server at
the start of every turn). This plugin follows legate's finishes of that origin (a ``legate events
-f`` process, run with an argument vector, never a shell) and, while the session is idle, puts
each unread result on Hermes' completion queue (``tools.process_registry.completion_queue``) as an
``async_delegation`` event addressed to the session. The interactive CLI drains that queue when
it is idle and starts a new turn with ``[ASYNC DELEGATION COMPLETE — <task id>] …``.

Exactly once: a result is acknowledged in legate's inbox before its event is queued, and only
the results this acknowledgement took are queued, so neither the shell hook nor legate's MCP
tools show it again. Finishes that arrive during a turn wait for its end (``on_session_end``);
the hook adds them to the next turn instead if the user speaks first. The plugin knows a turn
runs from ``pre_llm_call`` (turn start; Hermes runs plugin hooks before shell hooks) to
``on_session_end`` (turn end).

Only the interactive CLI drains the queue for a session: the plugin stays idle in one-shot runs
(``hermes -z``), whose results the hook delivers, and in gateways (messaging, TUI), whose chats
legate cannot tell apart over MCP.

Installed by ``legate setup hermes`` into ``~/.hermes/plugins/legate/`` (``$HERMES_HOME``) and
enabled there (``plugins: {enabled: [legate]}``); ``SETUP`` then names the legate program and the
store it uses.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from typing import Any, Dict, List, Optional

logger = logging.getLogger(__name__)

# What `legate setup hermes` pins: the legate program ("legate") and the variables naming its
# store ("env"). Empty in the repository.
SETUP: Dict[str, Any] = {}

# How much of one result a queued event carries (characters); the rest stays in legate.
RESULT_CHARS = 30_000

# How long one `legate` call may take, in seconds.
CALL_TIMEOUT_S = 30


def _program() -> str:
    return os.environ.get("LEGATE_BIN") or SETUP.get("legate") or "legate"


def _env() -> Dict[str, str]:
    env = dict(os.environ)
    env.update(SETUP.get("env") or {})
    return env


def _legate(args: List[str]) -> Optional[Any]:
    """Runs ``legate --json ARGS`` and returns its JSON output, or None when it failed."""
    try:
        done = subprocess.run(
            [_program(), "--json", *args],
            env=_env(),
            capture_output=True,
            text=True,
            timeout=CALL_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        logger.warning("legate %s: %s", " ".join(args), exc)
        return None
    if done.returncode != 0:
        logger.warning("legate %s: %s", " ".join(args), done.stderr.strip()[:400])
        return None
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:
        return None


def _end_with_parent() -> None:
    """In the follower, before it runs: end it when Hermes ends, however Hermes ends (Linux's
    parent-death signal; elsewhere the follower ends with its pipe, at its next line)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def _epoch(stamp: Any) -> Optional[float]:
    """legate's RFC 3339 timestamps as seconds since the epoch."""
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def completion_event(task: Dict[str, Any], session_key: str) -> Dict[str, Any]:
    """The ``async_delegation`` event (Hermes' ``tools/async_delegation.py`` shape) carrying a
    finished legate task to the session ``session_key``."""
    status = task.get("status") or ""
    error = task.get("error") or {}
    result = task.get("result") or ""
    if len(result) > RESULT_CHARS:
        result = "…" + result[-RESULT_CHARS:]
    started = _epoch(task.get("started_at"))
    finished = _epoch(task.get("finished_at")) or time.time()
    dispatched = _epoch(task.get("created_at"))
    return {
        "type": "async_delegation",
        "delegation_id": task.get("id", ""),
        "session_key": session_key,
        "goal": task.get("title") or "",
        "context": f"delegated through legate (full result: `legate result {task.get('id', '')}`)",
        "role": "legate task",
        "model": task.get("agent") or "?",
        "status": "completed" if status == "succeeded" else status,
        "summary": result,
        "error": (f"{error.get('kind', '')}: {error.get('message', '')}" if error else None),
        "api_calls": 0,
        "duration_seconds": round(finished - started, 1) if started else "?",
        "dispatched_at": dispatched,
        "completed_at": finished,
    }


class Delivery:
    """What the plugin knows of its Hermes process: the current session, whether a turn runs,
    and the follower of that session's finishes."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.session = ""
        self.busy = False
        self.follower: Optional[subprocess.Popen] = None
        self.followed = ""

    # -- Hermes' hooks ---------------------------------------------------------------------

    def turn_starts(self, session_id: str = "", platform: str = "", **_: Any) -> None:
        if not _serves(platform):
            return
        with self.lock:
            self.busy = True
            self.session = session_id or self.session
        self.follow()

    def turn_ends(self, session_id: str = "", platform: str = "", **_: Any) -> None:
        if not _serves(platform):
            return
        with self.lock:
            self.busy = False
            self.session = session_id or self.session
        self.follow()
        self.deliver()

    # -- delivery -------------------------------------------------------------------------

    def deliver(self) -> None:
        """Queues the session's unread results, if it is idle; each acknowledged first."""
        with self.lock:
            if self.busy or not self.session:
                return
            session = self.session
            origin = f"hermes:{session}"
            inbox = _legate(["inbox", "--origin", origin])
            tasks = (inbox or {}).get("tasks") or []
            if not tasks:
                return
            acked = _legate(["ack", "--origin", origin, *[t["id"] for t in tasks]])
            took = set((acked or {}).get("acked") or [])
            from tools.process_registry import process_registry

            for task in tasks:
                if task.get("id") in took:
                    process_registry.completion_queue.put(completion_event(task, session))

    def follow(self) -> None:
        """(Re)starts the follower of the current session's finishes."""
        with self.lock:
            session = self.session
            if not session:
                return
            if self.followed == session and (self.follower is None
                                             or self.follower.poll() is None):
                return  # following it, or about to
            if self.follower and self.follower.poll() is None:
                self.follower.terminate()
            self.followed = session
            # Started by a thread of its own, which lives as long as it: the parent-death
            # signal follows the thread that started the process.
            self.follower = None
        threading.Thread(target=self._follow, args=(session,), daemon=True,
                         name="legate-follower").start()

    def _follow(self, session: str) -> None:
        try:
            child = subprocess.Popen(
                [_program(), "--json", "events", "-f", "--kind", "finished",
                 "--origin", f"hermes:{session}"],
                env=_env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                preexec_fn=_end_with_parent,
            )
        except OSError as exc:
            logger.warning("cannot follow legate's finishes: %s", exc)
            with self.lock:
                if self.followed == session:
                    self.followed = ""  # the next turn tries again
            return
        with self.lock:
            if self.followed != session:
                child.terminate()
                return
            self.follower = child
        assert child.stdout is not None
        for line in child.stdout:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if event.get("kind") == "finished":
                self.deliver()
        child.wait()
        # Ended: a newer session's follower replaced it, or legate failed; then the next
        # turn starts another.
        with self.lock:
            if self.follower is child:
                self.follower, self.followed = None, ""

    def stop(self) -> None:
        with self.lock:
            if self.follower and self.follower.poll() is None:
                self.follower.terminate()


def _serves(platform: str) -> bool:
    """Whether this process drains the completion queue for one session at a time: the
    interactive CLI (not ``hermes -z``, not a gateway); and whether the hook is the
    conversation's own, not its background review's (a fork on the thread ``bg-review`` that
    shares the session id)."""
    return (
        threading.current_thread().name != "bg-review"
        and (platform or "cli") == "cli"
        and os.environ.get("HERMES_INTERACTIVE") == "1"
        and not os.environ.get("HERMES_GATEWAY_SESSION")
    )


_delivery = Delivery()


def register(ctx: Any) -> None:
    """Hermes' plugin entry point."""
    ctx.register_hook("pre_llm_call", _delivery.turn_starts)
    ctx.register_hook("on_session_end", _delivery.turn_ends)
    import atexit

    atexit.register(_delivery.stop)
