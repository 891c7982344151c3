/**
 * legate for OpenCode (`@opencode-ai/plugin` 1.18.33): background delegation for OpenCode's
 * models, backed by legate (durable, capped, queued), with results pushed back into the
 * session that delegated them.
 *
 * Tools offered to the model:
 *
 * - `async_task {agent, prompt, description}`: delegates `prompt` to a legate agent in the
 *   background and returns the task id at once.
 * - `async_task_result {task_id}`: the task's status, and its result once it finished.
 * - `async_task_wait {task_ids, mode, timeout}`: waits for all (or any) of the tasks, up to
 *   `timeout` seconds, and returns what finished (a gather).
 * - `async_task_cancel {task_id}`: cancels a queued or running task.
 *
 * A task for the agent `opencode` runs as a child session of the calling session in this same
 * OpenCode server (legate's built-in agent `opencode-session`: created with `parentID`, prompted
 * asynchronously, followed through the server's event stream, aborted when the task is
 * canceled), so it shows in OpenCode's session tree; children may not use `todowrite`,
 * `todoread`, `task` or `question`. It is still a legate task: queued, capped, listed by
 * `legate ls`, canceled by `legate cancel`. When such a task ends while its child still runs
 * (its daemon crashed: the leftovers are killed without a chance to abort), the plugin aborts
 * the child.
 *
 * Every task is submitted with the origin `opencode:<sessionID>` of the calling session's root
 * (a subagent's or child's delegations belong to the conversation the user talks to), so its
 * result belongs to that session's legate inbox. When a task finishes and its result was not
 * shown to the model by one of the tools above, the plugin posts it into the session as a
 * message once the session is idle (not in the middle of a turn), which wakes the model, and
 * acknowledges it in the inbox after the post succeeded: each result is delivered once (at
 * least once should the acknowledgement itself fail). Finishes (and tasks interrupted when
 * their daemon went away) are followed with `legate events -f --json --kind
 * finished,interrupted`, which resumes across daemon restarts; the inbox is the source of
 * truth, so results that finished while OpenCode was not running are delivered when their
 * session is next active in this server.
 *
 * legate is run as a program with an argument vector (never through a shell); prompts go to it
 * on stdin. The program is `$LEGATE_BIN`, else the one `legate setup` pinned, else `legate` on
 * `PATH`; it finds its daemon and store as usual (`LEGATE_HOME`, `LEGATE_CONFIG`, ...), or as the
 * setup pinned them.
 *
 * Installed by `legate setup opencode` (user: `~/.config/opencode/plugin/legate.ts`; project:
 * `.opencode/plugin/legate.ts`), or copy this file there by hand.
 */
import { type Plugin, tool } from "@opencode-ai/plugin"
import { spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { dirname, isAbsolute } from "node:path"

/**
 * What `legate setup opencode` pins when it installs this file: the legate program it ran as
 * (`legate`) and the variables naming its store (`env`: `LEGATE_HOME`, `LEGATE_CONFIG`), so the
 * plugin reaches that store whatever environment OpenCode runs in. Empty in the repository.
 */
const SETUP: { legate?: string; env?: Record<string, string> } = {}

/** The legate program. */
const LEGATE = process.env.LEGATE_BIN || SETUP.legate || "legate"

/** The environment legate runs in: OpenCode's, with what the setup pinned. */
const legateEnv = (): Record<string, string | undefined> => ({ ...process.env, ...SETUP.env })

/** How much of one result a pushed message carries (characters); the rest stays in legate. */
const PUSHED_RESULT_CHARS = 30_000

/** How much of one result a tool's answer carries (characters). */
const TOOL_RESULT_CHARS = 50_000

/** Default and largest wait of `async_task_wait`, in seconds. */
const WAIT_DEFAULT_S = 600
const WAIT_MAX_S = 3600

/** The agent names `async_task` runs as a child session in this server. */
const CHILD_AGENTS = new Set(["opencode", "opencode-session"])

/** legate's built-in agent that runs a task as a child session. */
const CHILD_AGENT = "opencode-session"

/** The legate origin of an OpenCode session. */
const originOf = (sessionID: string) => `opencode:${sessionID}`

/** What one run of the legate program gave. */
type Ran = { code: number | null; stdout: string; stderr: string }

/** A task as legate prints it (`legate show --json`; the fields used here). */
type Task = {
  id: string
  agent: string
  title: string
  status: string
  result: string | null
  error: { kind: string; message: string } | null
  cancel_requested?: boolean
}

/**
 * Runs `legate ARGS` (no shell) with `LEGATE_ORIGIN` set to `origin`, `stdin` written to its
 * standard input; ends it (TERM) when `signal` aborts. Rejects when the program cannot start.
 */
function legate(
  args: string[],
  opts: { origin?: string; stdin?: string; signal?: AbortSignal; env?: Record<string, string> } = {},
): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const env = { ...legateEnv(), ...opts.env }
    if (opts.origin) env.LEGATE_ORIGIN = opts.origin
    const child = spawn(LEGATE, args, { env, stdio: ["pipe", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d))
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
    const abort = () => child.kill("SIGTERM")
    opts.signal?.addEventListener("abort", abort, { once: true })
    child.on("error", (e: NodeJS.ErrnoException) => {
      opts.signal?.removeEventListener("abort", abort)
      reject(
        new Error(
          e.code === "ENOENT"
            ? `the legate program '${LEGATE}' was not found: install legate and put it on PATH, or set LEGATE_BIN to its path`
            : `could not run '${LEGATE}': ${e.message}`,
        ),
      )
    })
    child.on("close", (code) => {
      opts.signal?.removeEventListener("abort", abort)
      resolve({ code, stdout, stderr })
    })
    child.stdin.on("error", () => {})
    child.stdin.end(opts.stdin ?? "")
  })
}

/** The JSON a legate run printed, when it exited with one of `codes`; else its error. */
function parsed<T>(ran: Ran, codes: number[] = [0]): T {
  if (ran.code !== null && codes.includes(ran.code)) {
    try {
      return JSON.parse(ran.stdout) as T
    } catch {
      // fall through to the error below
    }
  }
  const said = ran.stderr.trim() || ran.stdout.trim() || `legate exited with ${ran.code}`
  throw new Error(said)
}

/** Text capped at `max` characters, saying how to get the rest. */
function capped(text: string, max: number, id: string): string {
  if (text.length <= max) return text
  return `${text.slice(0, max)}\n[... ${text.length - max} more characters: \`legate result ${id}\`]`
}

const FINISHED = new Set(["succeeded", "failed", "canceled", "timed_out", "interrupted"])

/** One task for the model: a heading line, then its result or error when it finished. */
function describe(t: Task, max: number): string {
  const head = `Task ${t.id} (agent ${t.agent}, "${t.title}"): ${t.status}`
  if (!FINISHED.has(t.status)) return head
  const lines = [head]
  if (t.error) lines.push(`error (${t.error.kind}): ${t.error.message}`)
  const result = (t.result ?? "").trim()
  if (result) lines.push(t.error ? `output:\n${capped(result, max, t.id)}` : capped(result, max, t.id))
  else if (!t.error) lines.push("(no output)")
  return lines.join("\n")
}

/**
 * The environment of a child-session task: the server, the parent session and its directory
 * (read by `legate opencode-session`), and `PATH` leading to this legate program, which the
 * agent runs.
 */
function childEnv(serverUrl: URL, parent: string, directory: string): Record<string, string> {
  const env: Record<string, string> = {
    LEGATE_OPENCODE_URL: serverUrl.toString(),
    LEGATE_OPENCODE_PARENT: parent,
    LEGATE_OPENCODE_DIRECTORY: directory,
  }
  if (isAbsolute(LEGATE)) env.PATH = [dirname(LEGATE), legateEnv().PATH].filter(Boolean).join(":")
  return env
}

/**
 * Whether this OpenCode server listens at `url` (any HTTP answer counts): without `serve` or
 * `--port` it may serve its sessions in process only, and a child session cannot be run.
 */
async function listening(url: URL): Promise<boolean> {
  try {
    await fetch(new URL("/global/health", url), { signal: AbortSignal.timeout(3000) })
    return true
  } catch {
    return false
  }
}

export const LegatePlugin: Plugin = async (input) => {
  const { client } = input
  /** Sessions active in this server (only these are ever posted into). */
  const known = new Set<string>()
  /** Sessions with finishes not yet looked at. */
  const pending = new Set<string>()
  /** Sessions posted into whose turn has not ended yet. */
  const woken = new Set<string>()
  /** Tasks the model canceled itself: their end is acknowledged, not posted. */
  const canceledHere = new Set<string>()
  /** Child-session tasks delegated here: task id → the session the child was made under. */
  const childTasks = new Map<string, string>()

  /**
   * Aborts the child session of a child-session task that ended, if it still runs: its run
   * aborts it when legate ends it (TERM), but not when a crashed daemon's leftovers are killed.
   */
  async function abortChild(taskID: string) {
    const parent = childTasks.get(taskID)
    if (!parent) return
    childTasks.delete(taskID)
    const kids = await client.session.children({ path: { id: parent } })
    // The oldest: a task requeued after a crash makes a new child later.
    const child = (kids.data ?? [])
      .filter((c) => c.title.startsWith(`legate ${taskID}:`))
      .sort((x, y) => x.time.created - y.time.created)[0]
    if (!child) return
    const status = await client.session.status()
    const s = (status.data as Record<string, { type: string }> | undefined)?.[child.id]
    if (s === undefined || s.type === "idle") return
    await client.session.abort({ path: { id: child.id } })
    log("info", `aborted child session ${child.id} of task ${taskID}, which ended`)
  }

  /** Per session, the delivery under way (deliveries of one session run one at a time). */
  const chains = new Map<string, Promise<void>>()

  /** Each session's root (itself when it has no parent), as the server says. */
  const roots = new Map<string, string>()

  /** The root of `sessionID`: subagent and child sessions deliver to the conversation above. */
  async function rootOf(sessionID: string): Promise<string> {
    const seen: string[] = []
    let id = sessionID
    while (!roots.has(id) && !seen.includes(id) && seen.length < 32) {
      seen.push(id)
      const r = await client.session.get({ path: { id } }).catch(() => undefined)
      const parent = (r?.data as { parentID?: string } | undefined)?.parentID
      if (!parent) break
      id = parent
    }
    const root = roots.get(id) ?? id
    seen.forEach((s) => roots.set(s, root))
    return root
  }

  /** The legate origin of the tasks a session delegates: its root's. */
  const originFor = async (sessionID: string) => originOf(await rootOf(sessionID))

  const log = async (level: "debug" | "info" | "warn" | "error", message: string): Promise<void> => {
    await client.app.log({ body: { service: "legate", level, message } }).catch(() => {})
  }

  /** Whether the session is in the middle of a turn. */
  async function busy(sessionID: string): Promise<boolean> {
    if (woken.has(sessionID)) return true
    const r = await client.session.status()
    const s = (r.data as Record<string, { type: string }> | undefined)?.[sessionID]
    return s !== undefined && s.type !== "idle"
  }

  /** The agent and model of the session's last user message, for the turn a post starts. */
  async function lastTurn(sessionID: string) {
    const r = await client.session.messages({ path: { id: sessionID } })
    const users = (r.data ?? []).map((m) => m.info).filter((i) => i.role === "user")
    const last = users[users.length - 1] as { agent?: string; model?: { providerID: string; modelID: string } } | undefined
    return { agent: last?.agent, model: last?.model }
  }

  /** Posts the session's unread results into it, if it is idle. */
  async function deliverNow(sessionID: string) {
    if (!known.has(sessionID) || !pending.has(sessionID)) return
    if (await busy(sessionID)) return
    pending.delete(sessionID)
    const origin = originOf(sessionID)
    const inbox = parsed<{ tasks: Task[] }>(await legate(["inbox", "--json", "--origin", origin], { origin }))
    const quiet = inbox.tasks.filter((t) => canceledHere.has(t.id))
    if (quiet.length > 0) {
      await legate(["ack", "--json", "--origin", origin, ...quiet.map((t) => t.id)], { origin })
      quiet.forEach((t) => canceledHere.delete(t.id))
    }
    const tasks = inbox.tasks.filter((t) => !quiet.includes(t))
    if (tasks.length === 0) return
    const text = [
      `[legate] ${tasks.length === 1 ? "A background task" : `${tasks.length} background tasks`} delegated with async_task finished:`,
      ...tasks.map((t) => describe(t, PUSHED_RESULT_CHARS)),
    ].join("\n\n")
    const turn = await lastTurn(sessionID).catch(() => ({ agent: undefined, model: undefined }))
    const posted = await client.session.promptAsync({
      path: { id: sessionID },
      body: { parts: [{ type: "text", text }], agent: turn.agent, model: turn.model },
    })
    if (posted.error) {
      pending.add(sessionID)
      throw new Error(`posting results into ${sessionID} failed: ${JSON.stringify(posted.error)}`)
    }
    woken.add(sessionID)
    const acked = await legate(["ack", "--json", "--origin", origin, ...tasks.map((t) => t.id)], { origin })
    if (acked.code !== 0) log("warn", `acknowledging ${tasks.map((t) => t.id).join(" ")}: ${acked.stderr.trim()}`)
  }

  /** Queues a delivery for the session behind the one under way. */
  function deliver(sessionID: string) {
    const prev = chains.get(sessionID) ?? Promise.resolve()
    const next = prev
      .then(() => deliverNow(sessionID))
      .catch((e) => log("warn", `delivering results to ${sessionID}: ${e instanceof Error ? e.message : e}`))
    chains.set(sessionID, next)
    next.then(() => {
      if (chains.get(sessionID) === next) chains.delete(sessionID)
    })
  }

  /** The follower of legate's finishes (`legate events -f`), started once needed. */
  let follower: ReturnType<typeof spawn> | undefined
  let cursor = 0
  let disposed = false
  let restarts = 0

  function follow() {
    if (follower || disposed) return
    const args = ["events", "-f", "--json", "--kind", "finished,interrupted", "--after", String(cursor)]
    const child = spawn(LEGATE, args, { env: legateEnv(), stdio: ["ignore", "pipe", "pipe"] })
    follower = child
    child.on("error", (e) => log("error", `following legate's finishes: ${e.message}`))
    child.stderr?.resume()
    createInterface({ input: child.stdout! }).on("line", (line) => {
      let e: { seq?: number; kind?: string; origin?: string | null; task_id?: string }
      try {
        e = JSON.parse(line)
      } catch {
        return
      }
      restarts = 0
      if (typeof e.seq === "number") cursor = Math.max(cursor, e.seq)
      if (e.task_id && childTasks.has(e.task_id))
        abortChild(e.task_id).catch((err) => log("warn", `aborting the child of ${e.task_id}: ${err}`))
      // A task whose daemon went away ends interrupted without a finish event.
      if ((e.kind !== "finished" && e.kind !== "interrupted") || !e.origin?.startsWith("opencode:")) return
      const sessionID = e.origin.slice("opencode:".length)
      pending.add(sessionID)
      deliver(sessionID)
    })
    child.on("close", () => {
      follower = undefined
      if (disposed) return
      // The follower outlives daemon restarts by itself; it ends only on an error: try again,
      // less and less often.
      restarts += 1
      setTimeout(follow, Math.min(60_000, 1000 * 2 ** Math.min(restarts, 6))).unref?.()
    })
  }

  // Results of earlier delegations may be waiting: follow at once when a daemon runs (a
  // delegation starts one, and the follower then, otherwise).
  legate(["daemon", "status", "--json"])
    .then((r) => {
      if (r.code === 0) follow()
    })
    .catch(() => {})

  return {
    dispose: async () => {
      disposed = true
      follower?.kill("SIGTERM")
    },

    event: async ({ event }) => {
      const e = event as { type: string; properties: { sessionID?: string; status?: { type: string }; info?: { id: string } } }
      if (e.type === "session.status" || e.type === "session.idle") {
        const sessionID = e.properties.sessionID
        if (!sessionID) return
        known.add(sessionID)
        if (e.type === "session.idle" || e.properties.status?.type === "idle") {
          woken.delete(sessionID)
          deliver(sessionID)
        }
      } else if (e.type === "session.deleted") {
        const sessionID = e.properties.info?.id ?? e.properties.sessionID
        if (!sessionID) return
        known.delete(sessionID)
        pending.delete(sessionID)
        woken.delete(sessionID)
      }
    },

    tool: {
      async_task: tool({
        description:
          "Delegate a task to another agent in the background (through legate) and get its task id at once; keep working meanwhile. " +
          "Its result is posted into this conversation as a message when it finishes; or collect it with async_task_wait or async_task_result. " +
          "Delegate several to work in parallel. An unknown agent name is answered with the list of agents.",
        args: {
          agent: tool.schema
            .string()
            .describe("The legate agent to run the task (e.g. claude, codex, gemini; opencode: a child session of this one)"),
          prompt: tool.schema.string().describe("The complete instructions for the task: the agent sees nothing else"),
          description: tool.schema.string().describe("A short title for the task (3-8 words)"),
        },
        async execute(args, ctx) {
          const origin = await originFor(ctx.sessionID)
          known.add(origin.slice("opencode:".length))
          const child = CHILD_AGENTS.has(args.agent.trim())
          const argv = ["run", "--json", "--origin", origin, "--cwd", ctx.directory]
          if (args.description.trim()) argv.push("--title", args.description.trim())
          argv.push(child ? CHILD_AGENT : args.agent, "--", "-")
          // Read when used: the server's address is known once it listens.
          const serverUrl = input.serverUrl
          if (child && !(await listening(serverUrl)))
            throw new Error(
              `agent "${args.agent}" runs the task as a child session in this OpenCode server, which does not listen at ${serverUrl} ` +
                "(start OpenCode with --port, or use `opencode serve`); delegate to another agent",
            )
          const env = child ? childEnv(serverUrl, ctx.sessionID, ctx.directory) : undefined
          const t = parsed<{ id: string; status: string; agent: string }>(
            await legate(argv, { origin, stdin: args.prompt, signal: ctx.abort, env }),
          )
          if (child) childTasks.set(t.id, ctx.sessionID)
          follow()
          ctx.metadata({ title: `${t.agent}: ${args.description}`, metadata: { task_id: t.id } })
          return (
            `Task ${t.id} delegated to ${t.agent} (${t.status}). It runs in the background: go on with other work. ` +
            `Its result will be posted into this conversation when it finishes; to collect it earlier use async_task_wait or async_task_result with task_id "${t.id}".`
          )
        },
      }),

      async_task_result: tool({
        description: "The status of a task delegated with async_task, and its result when it has finished (does not wait).",
        args: { task_id: tool.schema.string().describe("The id async_task returned") },
        async execute(args, ctx) {
          const origin = await originFor(ctx.sessionID)
          const shown = parsed<Task>(await legate(["show", "--json", args.task_id], { origin, signal: ctx.abort }))
          if (!FINISHED.has(shown.status)) return describe(shown, TOOL_RESULT_CHARS)
          // Read through `wait --result`, which marks it read, so it is not posted again.
          const waited = parsed<{ tasks: Task[] }>(
            await legate(["wait", "--json", "--result", shown.id], { origin, signal: ctx.abort }),
            [0, 3, 4, 5, 6],
          )
          return waited.tasks.map((t) => describe(t, TOOL_RESULT_CHARS)).join("\n\n")
        },
      }),

      async_task_wait: tool({
        description:
          "Wait for tasks delegated with async_task: all of them (mode \"all\", a gather) or the first to finish (mode \"any\"), " +
          `at most timeout seconds (default ${WAIT_DEFAULT_S}); returns each task's status and the results of those that finished.`,
        args: {
          task_ids: tool.schema.array(tool.schema.string()).min(1).describe("The ids async_task returned"),
          mode: tool.schema.enum(["all", "any"]).optional().describe("\"all\" (default) or \"any\""),
          timeout: tool.schema
            .number()
            .positive()
            .max(WAIT_MAX_S)
            .optional()
            .describe(`Seconds to wait at most (default ${WAIT_DEFAULT_S})`),
        },
        async execute(args, ctx) {
          const origin = await originFor(ctx.sessionID)
          const seconds = Math.ceil(args.timeout ?? WAIT_DEFAULT_S)
          const argv = ["wait", "--json", "--result", "--timeout", `${seconds}s`]
          if (args.mode === "any") argv.push("--any")
          argv.push(...args.task_ids)
          const r = parsed<{ tasks: Task[]; timed_out: boolean }>(
            await legate(argv, { origin, signal: ctx.abort }),
            [0, 3, 4, 5, 6, 8],
          )
          const head = r.timed_out
            ? `Waited ${seconds}s: not all of the tasks finished (they go on; wait again or get their results later).`
            : args.mode === "any"
              ? "A task finished."
              : "All the tasks finished."
          return [head, ...r.tasks.map((t) => describe(t, TOOL_RESULT_CHARS))].join("\n\n")
        },
      }),

      async_task_cancel: tool({
        description: "Cancel a task delegated with async_task (a queued one at once, a running one by ending its processes).",
        args: { task_id: tool.schema.string().describe("The id async_task returned") },
        async execute(args, ctx) {
          const origin = await originFor(ctx.sessionID)
          const tasks = parsed<Task[]>(await legate(["cancel", "--json", args.task_id], { origin, signal: ctx.abort }))
          // The model knows how these ended: mark them read rather than post them.
          const ended = tasks.filter((t) => FINISHED.has(t.status)).map((t) => t.id)
          if (ended.length > 0) await legate(["ack", "--json", "--origin", origin, ...ended], { origin })
          tasks.filter((t) => !FINISHED.has(t.status)).forEach((t) => canceledHere.add(t.id))
          return tasks.map((t) => `Task ${t.id} (agent ${t.agent}): ${t.status}`).join("\n")
        },
      }),
    },
  }
}
