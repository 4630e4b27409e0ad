/**
 * The host's handle on one running plugin: spawn from a plan, handshake,
 * calls with deadlines and an in-flight cap, exit detection, stop sequence.
 * @module
 */

import type { Contract, ContractApi } from "../contract.ts";
import {
  type ExitStatus,
  PluginExitedError,
  ProtocolError,
  StartRefusedError,
  TimeoutError,
} from "../errors.ts";
import { AuditRecorder } from "./audit.ts";
import type { AuditLog } from "./audit_log.ts";
import { Caller } from "./calls.ts";
import { CallChannels } from "./call_channels.ts";
import { CapabilityHost, strayInCall, WASTE_PER_PARSED_BYTE } from "./capabilities.ts";
import type { ChannelOptions } from "./method_calls.ts";
import { checkMs, checkStartNumbers, readOnce, takeLists } from "./check_options.ts";
import { refuseUnknownStartOptions } from "./option_keys.ts";
import { gatedLaunch } from "./launch_gate.ts";
import { deadlineSignal } from "./deadlines.ts";
import { FaultBudget, WasteMeter } from "./fault_budget.ts";
import { checkHandshake } from "./handshake.ts";
import {
  admitLaunch,
  type IsolationLayer,
  type LaunchPlan,
  planPlugin,
  releaseDenoDir,
  releaseSnapshot,
  releaseUnlaunchedPlan,
  takeIssuedPlan,
} from "../sandbox/mod.ts";
import { Beside } from "./beside.ts";
import type { EgressEntry } from "./egress_log.ts";
import { LogParser } from "./logs.ts";
import { Peer, ResponseError } from "../wire/mod.ts";
import { ScanOffload } from "./offload.ts";
import { ANSWER_PACED_FROM, AnswerPace } from "./answer_pace.ts";
import { PluginProcess } from "./process.ts";
import { userPaths } from "./stderr.ts";
import { z } from "npm:zod@^4.1.0";
import {
  type Classified,
  classifyLine,
  classifyMessage,
  DEFAULT_MAX_LINE_BYTES,
  type DescribedContract,
  ErrorCode,
  type InitializeParams,
  type JsonScan,
  MAX_MESSAGE_DEPTH,
  MAX_MESSAGE_MEMBERS,
  PROTOCOL_VERSION,
  RuntimeMethod,
  type ServedContract,
} from "../wire/mod.ts";
import {
  type AnswerMap,
  CALL_TYPED,
  type CallOptions,
  CHARGE_CHECK,
  createApi,
  mapAnswer,
} from "./proxy.ts";
import { toPluginError } from "./answer_errors.ts";
import { parseUntrusted } from "../untrusted_parse.ts";
import { neutralize, utf8Length } from "../wire/mod.ts";
import { LineTransport } from "../wire/mod.ts";
import { guarded } from "./listener.ts";
import {
  ANSWER_MS_PER_CHAR,
  ANSWER_WASTE_BYTES,
  BYTES_PER_FAULT,
  CAPABILITY_BURST_WINDOW_MS,
  CAPABILITY_MAX_OWED_WINDOW_MS,
  CAPABILITY_MIN_OWED_MS,
  ITEM_OVERHEAD_MS,
  MAX_BLANK_BYTES,
  MAX_CANCEL_BYTES,
  MAX_CAPABILITY_CALLS,
  PROGRESS_BYTES_PER_SECOND,
  QUEUED_CAPABILITY_BYTES,
  QUEUED_CAPABILITY_CALLS,
  REQUEST_OVERHEAD_MS,
  WASTE_PER_FAULT,
} from "./plugin_limits.ts";
import type { StartOptions } from "./start_options.ts";

/**
 * Longest a plugin's exit waits for its cgroups' close to say whether the OOM killer ended it,
 * where the host cannot read the count itself (that close runs one shell).
 */
const CLOSED_REASON_WAIT_MS = 5_000;

/**
 * Longest a plugin's line may stay unfinished on its stdout, from its first byte: the SDK writes a
 * line whole, 16 MiB in milliseconds. One begun and never ended held up to 16 MiB of the host and
 * a Worker for as long as the plugin lived, with no call in flight to time out (review 95).
 */
const PARTIAL_LINE_MS = 30_000;

const Described = z.object({
  contracts: z.array(z.object({
    name: z.string().max(64),
    version: z.number().int(),
    methods: z.array(
      z.object({ name: z.string().max(64), input: z.unknown(), output: z.unknown() }),
    ).max(1000),
  })).max(100),
});

/**
 * The manager's hook on a start, internal (no user module is handed the symbol): told of the
 * process at its spawn, before its handshake. From then on the manager's `killNow()` reaches it;
 * an abort of the start kills it only once the handshake has noticed, on a later turn of the event
 * loop, which an exit path (`unload`, `Deno.exit`) never gives.
 */
export const ON_SPAWN: unique symbol = Symbol("plugbox.onSpawn");

/**
 * The manager's mark on a launch nobody waits for in the foreground (a restart after a crash, a
 * hot standby), internal: it holds at most half the host's launch turns (launch_gate.ts).
 */
export const IN_BACKGROUND: unique symbol = Symbol("plugbox.inBackground");

/**
 * The manager's question to a process it would take over (a hot standby), internal: whether it
 * has ended, its exit reported or not, the kernel asked now (`Plugin[ENDED_NOW]`).
 */
export const ENDED_NOW: unique symbol = Symbol("plugbox.endedNow");

/** {@linkcode StartOptions} with the manager's {@linkcode ON_SPAWN} hook and {@linkcode IN_BACKGROUND} mark. */
export interface WatchedStartOptions extends StartOptions {
  /** Told of the process at its spawn, before its handshake. */
  [ON_SPAWN]?: (plugin: Plugin) => void;
  /** A launch in the background: it waits for one of the background's turns too. */
  [IN_BACKGROUND]?: boolean;
}

/**
 * Every plugin of this process whose processes may still run, from its spawn until its cgroups
 * are closed: SIGKILLed, with what their cgroups hold, when the process exits through `unload`
 * (`Deno.exit`, the end of the main module). Before, only a `PluginHost` with `handleSignals` (the
 * default) listened for it: a plugin of `startPlugin`, or of a host that handles its own signals,
 * died at the exit by its death signal alone, which no child of it inherits, and a run grant's
 * program ran on after it in the dead host's cgroups until some later host's sweep (review 136).
 */
const live = new Set<Plugin>();
let unloadWatched = false;

function killLive(): void {
  for (const plugin of live) plugin.kill({ wait: false });
}

function watchUnload(plugin: Plugin): void {
  live.add(plugin);
  if (unloadWatched) return;
  unloadWatched = true;
  globalThis.addEventListener("unload", killLive);
}

/** The handshake, reachable from this module only (see {@linkcode launchPlugin}). */
let handshakeOf: (plugin: Plugin, timeoutMs: number, signal?: AbortSignal) => Promise<void>;

/**
 * A running plugin, made by {@linkcode startPlugin}. Get typed APIs with
 * {@linkcode Plugin.api}; stop it with {@linkcode Plugin.close} or `await using`.
 *
 * @example
 * ```ts ignore
 * import { startPlugin } from "@plugbox/plugbox";
 * import { Greeter } from "./plugins/hello/contract.ts";
 *
 * await using plugin = await startPlugin("./plugins/hello/main.ts", { contracts: [Greeter] });
 * console.log(plugin.name, plugin.isolation, plugin.pid);
 * console.log(await plugin.api(Greeter).sayHello("a"));
 * ```
 */
export class Plugin implements AsyncDisposable {
  static {
    handshakeOf = (plugin, timeoutMs, signal) => plugin.#handshake(timeoutMs, signal);
  }

  /** The plugin's name. */
  readonly name: string;
  /** The isolation it runs under (`plan.notes` says why). */
  readonly isolation: IsolationLayer;
  /** The plan it was started from (argv, environment, grants, snapshot). */
  readonly plan: LaunchPlan;
  /** What the plugin said it serves in the handshake. */
  served: readonly ServedContract[] = [];
  #contracts: readonly Contract[];
  #process: PluginProcess;
  #transport: LineTransport;
  #peer: Peer;
  #calls: Caller;
  #reading: Promise<void>;
  #stop: { graceMs: number; termMs: number };
  #failure: ProtocolError | undefined;
  #status: ExitStatus | undefined;
  #audit: AuditRecorder | undefined;
  #budget: FaultBudget;
  #maxCapabilityBytes: number;
  #maxProgressPerSecond: number;
  #waste = new WasteMeter(WASTE_PER_FAULT);
  #onFault: ((detail: string) => void) | undefined;
  #offload: ScanOffload;
  /** Its answers' reading, paced to a share of the host's thread (review 146). */
  #answers: AnswerPace;
  /** Set while an answer is read and measured: a check run then is in the measure already. */
  #readingAnswer = false;
  #beside: Beside;
  #ended: Promise<ExitStatus>;
  #capabilities: CapabilityHost;
  #channels: CallChannels;

  /**
   * Use {@linkcode startPlugin}. Only a plan made by `planPlugin` is
   * accepted, so no caller can spawn a plugin from a hand-made plan.
   */
  constructor(plan: LaunchPlan, options: StartOptions) {
    if (!takeIssuedPlan(plan)) {
      throw new TypeError(
        "Cannot start a plugin from this plan: plans are made by planPlugin(), unchanged, and used once",
      );
    }
    this.name = plan.name;
    this.isolation = plan.isolation;
    this.plan = plan;
    this.#contracts = options.contracts;
    // Until the process is spawned, a failure here is this start's end: the capabilities refused
    // and the audit file not opened as well (review 50: each such start kept its own Deno dir).
    const limits = { maxDepth: MAX_MESSAGE_DEPTH, maxMembers: MAX_MESSAGE_MEMBERS };
    let spawned: { beside: Beside; process: PluginProcess };
    try {
      this.#capabilities = new CapabilityHost(options.contracts, options.capabilities ?? [], {
        plugin: plan.name,
        callEnded: (id) => this.#peer.signalOf(id),
        onError: options.onCapabilityError,
        fault: (detail, bytes) => this.#fault(detail, bytes),
        wasted: (bytes) => this.#wasted(bytes),
      });
      this.#maxCapabilityBytes = options.maxCapabilityBytes ?? 2 * 1024 * 1024;
      this.#maxProgressPerSecond = options.maxProgressPerSecond ?? 50;
      this.#stop = { graceMs: options.stopGraceMs ?? 2000, termMs: options.stopTermMs ?? 1000 };
      this.#onFault = guarded(options.onProtocolFault);
      this.#budget = new FaultBudget(options.maxFaults ?? 100, options.faultWindowMs ?? 10_000);
      this.#offload = new ScanOffload(limits);
      const parser = new LogParser(plan.name);
      const onLog = options.onLog && guarded(options.onLog);
      this.#audit = plan.audit
        ? AuditRecorder.open(plan, {
          onEntry: options.onAudit,
          onOverflow: () => {
            this.#onFault?.(
              `its permission checks passed audit.maxLogBytes (${
                plan.audit!.maxLogBytes
              } bytes): killed`,
            );
            this.#process.kill();
          },
        })
        : undefined;
      // The egress proxy, CPU cgroup and watchdog first: the process meets them from its start.
      spawned = Beside.spawn(plan, options, () =>
        new PluginProcess(plan, {
          mapLine: userPaths(plan.snapshot.dir, plan.root),
          onStderrLine: onLog
            ? (line, fromPlugbox) => onLog(fromPlugbox ? parser.note(line) : parser.parse(line))
            : undefined,
          sandboxed: plan.isolation === "os",
          v8: plan.kind === "deno",
          signalShell: plan.cpu.sh,
          maxLogLinesPerSecond: options.maxLogLinesPerSecond,
          // Its input closes with it: nothing more can be written to a plugin that is gone.
          onExit: () => this.#transport.abortWrite(),
        }));
    } catch (error) {
      void this.#audit?.finish();
      releaseUnlaunchedPlan(plan);
      throw error;
    }
    const { beside, process } = spawned;
    this.#beside = beside;
    this.#process = process;
    watchUnload(this);
    this.#ended = process.status.then(async (status) => {
      const { oomKilled, left } = await beside.close();
      // Its processes all gone: a run, ffi or all grant's own Deno dir is no one's now. Kept while
      // one the kernel would not kill is left (review 49); a sweep takes it once this host ends.
      if (left.length === 0) releaseDenoDir(plan.env.DENO_DIR);
      // And its snapshot: a removal may take it once no other start uses it (review 159).
      if (left.length === 0) releaseSnapshot(plan.snapshot);
      // An exit plugbox did not cause, with the memory cgroup's OOM killer at work: out of memory.
      const ended: ExitStatus = oomKilled && status.reason === "exited"
        ? { ...status, reason: "out-of-memory" }
        : status;
      return left.length > 0 ? { ...ended, leftBehind: left } : ended;
    });
    // Once the cgroups are closed, exitStatus says what close() and exited say.
    void this.#ended.then((status) => this.#status = status);
    const forget = () => void live.delete(this);
    this.#ended.then(forget, forget);
    const queueCap = options.maxQueuedBytes ?? 64 * 1024 * 1024;
    const share = options.capabilityTimeShare ?? 0.25;
    // Unpaced at 1: a host whose plugin's honest answers are costly (review 153).
    this.#answers = new AnswerPace({ share: options.answerTimeShare });
    this.#transport = new LineTransport(this.#process.stdout, this.#process.stdin, {
      maxLineBytes: options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES,
      maxPartialLineMs: options.maxPartialLineMs ?? PARTIAL_LINE_MS,
      maxQueuedBytes: queueCap,
      onQueueFull: () =>
        this.#protocolFault(
          `it stopped reading its input: more than ${queueCap} bytes of messages to it, or as many of answers to its calls, were waiting (option "maxQueuedBytes")`,
        ),
      scan: { limits, offload: () => this.#offload.start() },
    });
    this.#peer = new Peer((message) => this.#transport.send(message), {
      flushed: () => this.#transport.flushed(),
      // Answers to its calls may wait beside the queue: their number is its slots'.
      sendAnswer: (message) => this.#transport.send(message, undefined, true),
      maxQueuedRequests: QUEUED_CAPABILITY_CALLS,
      maxQueuedBytes: QUEUED_CAPABILITY_BYTES,
      inboundTime: {
        share,
        burstMs: share * CAPABILITY_BURST_WINDOW_MS,
        maxOwedMs: Math.max(CAPABILITY_MIN_OWED_MS, share * CAPABILITY_MAX_OWED_WINDOW_MS),
        answerMsPerChar: ANSWER_MS_PER_CHAR,
      },
      // Beyond them, answered "overloaded" at once: a host that stopped reading stopped reading the
      // plugin's answers too (pings among them), and killed it as unresponsive (review 65).
      refuseWhenFull: true,
      // Weighed by the line it was found in (review 66).
      onViolation: (detail, bytes) => this.#fault(detail, bytes),
      onWasted: (bytes) => this.#wasted(bytes + ANSWER_WASTE_BYTES),
      onRequest: (method, params, context) => {
        if (this.#capabilities.has(method)) {
          return this.#capabilities.handle(method, params, context);
        }
        const name = neutralize(method, 64);
        this.#fault(`request "${name}" to the host, which serves no methods`, context.bytes);
        throw new ResponseError(ErrorCode.MethodNotFound, `Method "${name}" not found`);
      },
      onSendError: (error) => this.#protocolFault(`an answer to it could not be sent: ${error}`),
      overLimitError: (reason) =>
        new ProtocolError(this.name, `its answer broke the structure caps: ${reason}`, {
          stderrTail: this.#process.stderrTail(),
        }),
      cancelGraceMs: options.cancelGraceMs,
      onStuck: (method, id) => {
        // An unanswered ping holds no handler's slot: the health check (or whoever called ping())
        // judges it, confirming a miss first; killing here would skip that.
        if (method === RuntimeMethod.ping) return;
        const detail = `"${method}" (id ${id}) was cancelled and not answered within ${
          options.cancelGraceMs ?? 2000
        } ms`;
        // A handler that ignores cancellation holds a slot and, likely, a core: end it.
        // A listener that fails (throws, or rejects) is no listener: the plugin is ended here,
        // and the host does not crash (review 61).
        if (!options.onUnresponsive) return this.#process.kill();
        guarded(options.onUnresponsive, () => this.#process.kill())(detail);
      },
    });
    this.#channels = new CallChannels({
      notify: (method, params) => this.#peer.notify(method, params),
      isPending: (id) => this.#peer.isPending(id),
      fault: (detail, bytes) => this.#fault(detail, bytes),
      violation: (detail) => this.#protocolFault(detail),
      wasted: (bytes) => this.#wasted(bytes),
      window: {
        items: options.streamWindow?.items ?? 256,
        bytes: options.streamWindow?.bytes ?? 1024 * 1024,
      },
      maxProgressPerSecond: this.#maxProgressPerSecond,
      maxProgressBytes: 64 * 1024,
      maxProgressLineBytesPerSecond: 2 * PROGRESS_BYTES_PER_SECOND,
    });
    this.#calls = new Caller(this.#peer, {
      plugin: plan.name,
      maxInFlight: options.maxInFlight ?? 64,
      callTimeout: options.callTimeout ?? 30_000,
      stderrTail: () => this.#process.stderrTail(),
      exitStatus: () => this.#status,
    });
    this.#reading = this.#transport.run({
      onMessage: (value, line) => this.#receive(classifyMessage(value), line),
      onScanned: (bytes, scan, text, costMs) => {
        // Timed: a line up to 4 KiB is parsed whole here (review 73: 4 KiB calls of members the
        // contract drops cost the host five times the plugin's CPU, all of it before the handler).
        const began = performance.now();
        const found = classifyLine(bytes, scan, text);
        return this.#receive(found, bytes.length, scan, costMs + performance.now() - began);
      },
      onStray: (line, bytes) =>
        this.#fault(`stray output on stdout: ${neutralize(line, 200)}`, bytes),
      onBlank: (bytes) =>
        bytes > MAX_BLANK_BYTES
          ? this.#fault(`a blank line of ${bytes} bytes`, bytes)
          : this.#wasted(bytes),
    }).catch((error) =>
      this.#protocolFault(error instanceof Error ? error.message : String(error))
    );
    this.#process.status.then(async (exit) => {
      // Its calls' errors say what the cgroups' close will: a kill by the memory cgroup's OOM
      // killer is out of memory, not a signal from nowhere.
      const oom = exit.reason === "exited" ? this.#beside.oomKilledNow() : false;
      // A count this host may not read (its permissions), the close's shell reads: its calls wait
      // for that, or their errors said "exited" where `exited` then said out of memory (review 83).
      const status: ExitStatus = oom === undefined
        ? { ...exit, reason: await this.#closedReason(exit.reason) }
        : oom
        ? { ...exit, reason: "out-of-memory" }
        : exit;
      this.#status = status;
      void this.#audit?.finish();
      this.#calls.clear();
      this.#peer.close(this.#failure ?? this.#exitError(status));
      // What stdout still holds once stderr is drained (or abandoned) is not read.
      void this.#transport.cancelRead();
      this.#offload.close();
      this.#answers.close();
    });
  }

  /**
   * Why the process ended, for its calls and its start: plugbox's own refusal where its prologue
   * or launcher refused the start before the plugin ran (read from before the exec mark, with its
   * exit 125: process.ts), else the plugin's exit, whatever its stderr says (review 168).
   */
  #exitError(status: ExitStatus): Error {
    const refusal = this.#process.refusal;
    if (refusal && status.code === 125 && status.signal === null) {
      return new StartRefusedError(this.name, refusal);
    }
    return new PluginExitedError(this.name, status);
  }

  /** The reason the cgroups' close gives, or `fallback` if it takes longer than a moment. */
  async #closedReason(fallback: ExitStatus["reason"]): Promise<ExitStatus["reason"]> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<ExitStatus["reason"]>((resolve) => {
      timer = setTimeout(() => resolve(fallback), CLOSED_REASON_WAIT_MS);
    });
    try {
      return await Promise.race([this.#ended.then((ended) => ended.reason, () => fallback), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The plugin's recent egress: each connection its proxy made and each it
   * refused, oldest first (at most 256; empty without filtered egress).
   */
  egressLog(): EgressEntry[] {
    return this.#beside.egressLog();
  }

  /** The process id (of the sandbox wrapper under the OS layer). */
  get pid(): number {
    return this.#process.pid;
  }

  /** How the process ended, once it has. */
  get exitStatus(): ExitStatus | undefined {
    return this.#status;
  }

  /**
   * True once the process is known to have exited: at once, before its stderr is read out and
   * its exit reported (`exitStatus`, `exited`), which a child holding that stderr delays 500 ms.
   */
  get gone(): boolean {
    return this.#process.gone;
  }

  /**
   * True once the process will take no more calls: it is gone, this host stopped or killed it
   * (a fault, a missed ping, its CPU budget), or its protocol failed. Calls made then reject
   * without being sent.
   */
  get ending(): boolean {
    return this.#failure !== undefined || this.#process.ending || this.#process.gone;
  }

  /**
   * Whether the process has ended, its exit reported or not: the kernel asked now (it reads /proc,
   * so it is not asked on every call, as {@linkcode Plugin.ending} is). See {@linkcode ENDED_NOW}.
   * @ignore
   */
  [ENDED_NOW](): boolean {
    return this.#process.endedNow();
  }

  /** Resolves when the process has exited (and its proxy and cgroup are gone). Never rejects. */
  get exited(): Promise<ExitStatus> {
    return this.#ended;
  }

  /** Calls sent and not yet answered (cancelled ones included). */
  get inFlight(): number {
    return this.#peer.pendingCount;
  }

  /**
   * Whether this host paced the reading of its answers at any time since
   * `at` (`Date.now()`): what it sent meanwhile waited unread (review 146).
   * @ignore
   */
  answersPacedSince(at: number): boolean {
    return this.#answers.pacedSince(at);
  }

  /**
   * What checking one of its answers took where the check ran after the
   * answer's reading (a call with a signal, progress, a channel, an audit):
   * owed by its next answer's reading, as the reading's own (review 153).
   * @ignore
   */
  [CHARGE_CHECK](ms: number): void {
    if (!this.#readingAnswer) this.#answers.owe(ms);
  }

  /** The last lines of the plugin's stderr. */
  stderrTail(): string {
    return this.#process.stderrTail();
  }

  /**
   * One message from the plugin, classified, to the peer; notifications
   * other than a cancel of the plugin's own capability call, stream items
   * and progress are faults. `line` is the line's length in bytes, or its
   * text (measured only when it matters); `scan`, what its scan found, if
   * it was scanned (every line longer than 128 bytes); `costMs`, what
   * reading, scanning and parsing it took the host where that was timed
   * (every scanned line), charged to the plugin's share of the host's time
   * when it is a capability call or a cancel of one.
   */
  #receive(
    found: Classified,
    line: number | string,
    scan?: JsonScan,
    costMs = 0,
  ): void | Promise<void> {
    if (found.kind === "request") {
      // A line at hand as text is one short enough to parse at once (128 bytes): its characters do.
      const bytes = typeof line === "number" ? line : line.length;
      // Refused before `params` is read, which would parse it (review 57: a call over the cap;
      // review 69: members the parse would build, or drop, for nothing). The SDK sends neither.
      const refusal = bytes > this.#maxCapabilityBytes
        ? `a capability call of ${bytes} bytes, over the host's cap of ${this.#maxCapabilityBytes} (its "maxCapabilityBytes")`
        : scan && this.#capabilities.has(found.message.method) &&
          strayInCall(found.message.method, scan);
      if (!refusal) return this.#peer.accept(found, bytes, costMs + REQUEST_OVERHEAD_MS);
      this.#fault(refusal, bytes);
      return this.#peer.refuse(
        found.message.id,
        new ResponseError(ErrorCode.InvalidRequest, refusal),
      );
    }
    // A response, or a line the peer refuses: what it reports weighs the line (review 66: a 16 MiB
    // response to no call, or one not JSON-RPC 2.0, weighed one fault, as a blank line did once).
    // But an answer to a call in flight is one the host asked for, once: over the structure caps,
    // it fails its call and weighs one (an honest plugin's huge result ended it at the second).
    if (found.kind !== "notification") {
      const asked = found.kind === "over-limit" && found.id !== null &&
        this.#peer.isPending(found.id);
      // Its parse and its check happen here (the call is settled): paced to the plugin's share of
      // the host's event loop (review 146). A short one is not timed (ANSWER_PACED_FROM).
      const timed = (typeof line === "number" ? line : line.length) >= ANSWER_PACED_FROM;
      const began = timed ? performance.now() : 0;
      this.#readingAnswer = true;
      try {
        this.#peer.accept(found, typeof line === "number" && !asked ? line : 0);
      } finally {
        this.#readingAnswer = false;
      }
      if (!timed) return;
      const ended = performance.now();
      return this.#answers.charge(ended - began, ended);
    }
    const { message } = found;
    // Measured before `params` is read: reading it parses it.
    const bytes = typeof line === "number" ? line : utf8Length(line);
    if (message.method === RuntimeMethod.cancel) {
      if (bytes > MAX_CANCEL_BYTES) return this.#fault(`a cancel of ${bytes} bytes`, bytes);
      // The peer aborts the capability call's signal. A call it does not know (answered, say) is
      // no fault, a race the plugin cannot avoid, but it is work for nothing.
      const id = (message.params as { id?: unknown } | undefined)?.id;
      // Parsed for nothing: by its parse, as an invalid argument is (review 73: a 255-byte cancel
      // of 90 numbers, weighed as one short line, held a host at a quarter of its thread).
      if (!this.#peer.isHandling(id)) return this.#wasted(bytes * WASTE_PER_PARSED_BYTE);
      // A cancel of its own call in progress is no waste, but its reading is the plugin's to pay
      // (review 74: calls each cancelled by a 4 KiB cancel held 78-84% of the host at any share).
      this.#peer.charge(costMs + REQUEST_OVERHEAD_MS);
      return this.#peer.accept(found);
    }
    // A stream item is read as its consumer takes it, and what that took is owed (CHARGE_CHECK):
    // the plugin's next line waits for it as an answer's reading would (review 157).
    if (this.#channels.receive(message, bytes, scan?.values)) {
      // An item's line costs the host before its consumer reads it (its scan, its classifying, the
      // channel's bookkeeping): owed as a capability call's is (review 158: 17,000 to 38,000 cheap
      // items a second, 1,000 bytes each, cut 5 honest neighbours' calls to 0.12 to 0.33 of a
      // control's).
      if (message.method === RuntimeMethod.item) this.#answers.owe(costMs + ITEM_OVERHEAD_MS);
      return this.#answers.due();
    }
    // The host takes no other notifications.
    this.#fault(
      `notification "${neutralize(message.method, 64)}" to the host, which takes none`,
      bytes,
    );
  }

  /**
   * A protocol fault, counted against the budget. Its detail may quote the
   * plugin: neutralised here once, whoever wrote it (review 57: a stream
   * item's id reached `onProtocolFault` and a `ProtocolError` with its
   * bidi and C1 controls raw).
   */
  #fault(raw: string, bytes = 0, weight = 1 + Math.floor(bytes / BYTES_PER_FAULT)): void {
    // Once faulty, ended: what it sends meanwhile is no more news (review 65: 283 reports for 101).
    if (this.#failure) return;
    const detail = neutralize(raw, 1000);
    this.#onFault?.(detail);
    if (this.#budget.record(Date.now(), weight)) {
      this.#protocolFault(
        `it is faulty: more than ${this.#budget.max} protocol faults within ${this.#budget.windowMs} ms; the last: ${detail}`,
      );
    }
  }

  /** A line of `bytes` that did nothing; enough of them make a fault (fault_budget.ts). */
  #wasted(bytes: number): void {
    const quanta = this.#waste.add(bytes);
    if (quanta > 0) {
      this.#fault(
        `${WASTE_PER_FAULT} units of lines that did nothing (blank lines, cancels of calls not in progress, progress nobody receives, invalid capability calls)`,
        0,
        quanta,
      );
    }
  }

  #protocolFault(detail: string): void {
    if (this.#failure || this.#process.exited) return;
    this.#failure = new ProtocolError(this.name, detail, {
      stderrTail: this.#process.stderrTail(),
    });
    this.#peer.close(this.#failure);
    this.#process.kill();
  }

  /**
   * Kills the process and everything it started (SIGKILL) now; pending calls
   * reject with `PluginExitedError`. `wait: false` does it without yielding
   * to the event loop at all, for exit paths that cannot await (`unload`),
   * and kills what the plugin's cgroups hold too (a child that left its
   * process tree; a stop finds those as it removes the cgroups).
   */
  kill(options: { wait?: boolean } = {}): void {
    if (options.wait === false) {
      this.#process.killNow();
      this.#beside.killNow();
    } else this.#process.kill();
  }

  /** Runs the handshake; {@linkcode launchPlugin} calls it once. */
  async #handshake(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const params: InitializeParams = {
      protocolVersion: PROTOCOL_VERSION,
      nonce: this.plan.nonce,
      contracts: this.#contracts.map((c) => ({ name: c.name, version: c.version })),
      maxLineBytes: this.#transport.maxLineBytes,
      // The SDK keeps within these itself: an honest plugin is never refused or faulted for them.
      maxCapabilityBytes: this.#maxCapabilityBytes,
      maxCapabilityCalls: MAX_CAPABILITY_CALLS + QUEUED_CAPABILITY_CALLS,
      maxCapabilityQueueBytes: QUEUED_CAPABILITY_BYTES,
      maxProgressPerSecond: this.#maxProgressPerSecond,
      maxProgressBytesPerSecond: PROGRESS_BYTES_PER_SECOND,
    };
    // No reason on timeout: the AbortError is turned into a TimeoutError below,
    // after the process is gone and its stderr fully read.
    using deadline = deadlineSignal(timeoutMs, undefined, signal);
    try {
      const raw = await this.#peer.request(RuntimeMethod.initialize, params, {
        signal: deadline.signal,
      });
      this.served = checkHandshake(this.name, {
        nonce: this.plan.nonce,
        contracts: this.#contracts,
      }, raw);
    } catch (error) {
      // Read before the kill: the process's end settles the go as never sent.
      const notLetRun = this.#process.stdin.waiting;
      this.#process.kill();
      await this.#ended;
      await this.#audit?.finish();
      throw this.#startError(error, timeoutMs, signal, notLetRun);
    }
  }

  #startError(
    error: unknown,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    notLetRun: boolean,
  ): unknown {
    const stderrTail = this.#process.stderrTail();
    if (signal?.aborted && error === signal.reason) return error;
    if (error instanceof DOMException && error.name === "AbortError") {
      return new TimeoutError({
        plugin: this.name,
        operation: "start",
        timeoutMs,
        stderrTail,
        hint: notLetRun
          ? "its sandbox was not ready in time: plugbox had not yet let the plugin run " +
            "(it waits until the sandbox's death signals are armed); a larger startTimeout helps " +
            "on a loaded machine"
          : `no answer to the handshake: ${this.#serveHint()} (or, if it does, the machine ` +
            `was too busy to start it in time: a larger startTimeout helps on a loaded machine)`,
      });
    }
    if (error instanceof PluginExitedError && error.exitCode === 0 && this.#status) {
      // A clean exit before the handshake is a plugin that never served.
      return new PluginExitedError(this.name, this.#status, {
        cause: error,
        hint: `it ended before answering the handshake: ${this.#serveHint()}`,
      });
    }
    if (error instanceof ResponseError) {
      // The answer's text is the plugin's claim: shown as its words, on one line (T22).
      const known = error.code === ErrorCode.UnsupportedProtocol ||
        error.code === ErrorCode.NonceMismatch;
      const detail = `${
        known ? "the plugin" : `the plugin refused the handshake (${error.code}) and`
      } says: ${neutralize(error.message, 300)}`;
      // Not the cause: its message is the plugin's text, whole, and an inspected error prints it.
      return new ProtocolError(this.name, detail, { stderrTail });
    }
    if (error instanceof ProtocolError && !error.stderrTail) {
      return new ProtocolError(this.name, error.detail, { stderrTail, cause: error });
    }
    return error;
  }

  #serveHint(): string {
    return this.plan.kind === "command"
      ? `does the program answer "$/initialize" on stdout (PROTOCOL.md, "Writing a plugin in another language")?`
      : `does its main module call serve(implement(...)) from "@plugbox/plugbox/plugin" and await it?`;
  }

  /**
   * A typed API for one of the contracts given at start.
   *
   * @example
   * ```ts ignore
   * const greeter = plugin.api(Greeter, { timeout: 1000 });
   * console.log(await greeter.sayHello("a"));
   * ```
   * @throws {TypeError} when the contract was not passed to `startPlugin`.
   */
  api<C extends Contract>(contract: C, options: CallOptions = {}): ContractApi<C> {
    if (!this.#contracts.includes(contract)) {
      throw new TypeError(
        `Cannot use contract "${contract?.name}" with plugin "${this.name}": it was not in the "contracts" given at start`,
      );
    }
    return createApi(contract, this, options);
  }

  /**
   * Sends one raw call. Prefer {@linkcode Plugin.api}, which validates.
   * Waits for a free slot when `maxInFlight` calls are out. Rejects with
   * `TimeoutError` after the deadline, `signal.reason` on abort,
   * `PluginExitedError` (naming the method) when the process ends, and
   * `PluginError` (the plugin's claim, neutralised) for an error answer.
   */
  call(method: string, params: unknown, options: CallOptions = {}): Promise<unknown> {
    const channel = (options as ChannelOptions).channel;
    if (channel) {
      let sent: number | string | undefined;
      options = {
        ...options,
        onSent: (id: number | string) => this.#channels.attach(sent = id, channel),
        onSettled: () => sent !== undefined && this.#channels.detach(sent),
      } as CallOptions;
    }
    // An error answer is the plugin's claim, as from `api` (review 39: the raw ResponseError
    // kept the plugin's text whole, printed raw when inspected).
    const claim = (error: unknown) => {
      throw toPluginError(error, this.name, method);
    };
    if (this.#audit) {
      return this.#audit.around(method, () => this.#calls.call(method, params, options))
        .catch(claim);
    }
    return this.#calls.call(method, params, options).catch(claim);
  }

  /**
   * A typed call from {@linkcode createApi}: the answer mapped by the call itself.
   * @ignore
   */
  [CALL_TYPED](
    method: string,
    params: unknown[],
    options: CallOptions,
    answer: AnswerMap,
  ): Promise<unknown> {
    if ((options as ChannelOptions).channel || this.#audit) {
      return mapAnswer(this.call(method, params, options), answer);
    }
    return this.#calls.call(method, params, options, answer);
  }

  /**
   * What the process touched so far, when it was started with `audit`:
   * every permission check Deno wrote before this call, judged against the
   * grants and folded into entries. After the process has ended, the whole
   * audit (`finished`).
   *
   * @example
   * ```ts ignore
   * await using plugin = await startPlugin("./plugins/kv/main.ts", { contracts: [Kv], audit: true });
   * await plugin.api(Kv).keys();
   * for (const e of (await plugin.audit()).entries) console.log(e.kind, e.value, e.granted);
   * ```
   * @throws {TypeError} when the plugin was started without `audit`.
   */
  audit(): Promise<AuditLog> {
    if (!this.#audit) {
      return Promise.reject(
        new TypeError(`Cannot audit plugin "${this.name}": it was started without "audit"`),
      );
    }
    return this.#audit.snapshot();
  }

  /**
   * Asks the plugin to describe its contracts (`$/describe`): each method
   * with JSON Schemas of its arguments and result. The answer comes from the
   * untrusted plugin: it is checked for shape, and its strings are the
   * plugin's words, to be shown neutralised. An error answer rejects as a
   * `PluginError`, the plugin's claim.
   */
  async describe(timeout = 5000): Promise<DescribedContract[]> {
    checkMs("timeout", timeout, 1);
    const raw = await this.call(RuntimeMethod.describe, {}, { timeout }); // an error: a PluginError
    // Counted before zod walks it: a million contracts would each be parsed first.
    const contracts = (raw as { contracts?: unknown } | null)?.contracts;
    if (Array.isArray(contracts) && contracts.length > 100) {
      throw new ProtocolError(this.name, `malformed answer to $/describe: more than 100 contracts`);
    }
    const parsed = parseUntrusted(Described, raw);
    if (!parsed.success) {
      throw new ProtocolError(
        this.name,
        `malformed answer to $/describe: ${parsed.error.issues[0].message}`,
      );
    }
    return parsed.data.contracts as DescribedContract[];
  }

  /**
   * Asks the plugin for `$/ping`; resolves when it answers within `timeout`
   * ms. The ping goes straight to the wire, not behind queued calls: a busy
   * plugin that still reads its input is healthy. An error answer rejects
   * as a `PluginError`, the plugin's claim.
   */
  async ping(timeout = 5000): Promise<void> {
    checkMs("timeout", timeout, 1);
    using deadline = deadlineSignal(timeout, () =>
      new TimeoutError({
        plugin: this.name,
        operation: "ping",
        timeoutMs: timeout,
        stderrTail: this.#process.stderrTail(),
      }));
    await this.#peer.request(RuntimeMethod.ping, {}, { signal: deadline.signal }).catch((error) => {
      throw toPluginError(error, this.name, RuntimeMethod.ping);
    });
  }

  /**
   * Stops the plugin: close stdin, wait the grace period, SIGTERM, wait,
   * SIGKILL. Calls still pending reject with `PluginExitedError`. Resolves
   * with how the process ended; safe to call more than once.
   */
  async close(): Promise<ExitStatus> {
    await this.#process.stop({
      closeInput: () => this.#transport.close(),
      ...this.#stop,
    });
    await this.#reading;
    // The process's own status, with what closing its cgroups found (out of memory, left behind).
    const status = await this.#ended;
    await this.#audit?.finish();
    return status;
  }

  /** Same as {@linkcode Plugin.close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Starts a plugin: plans it (grants, snapshot, module-graph check,
 * isolation), spawns it, and completes the handshake.
 *
 * @example
 * ```ts ignore
 * import { startPlugin } from "@plugbox/plugbox";
 * import { Greeter } from "../plugins/hello/contract.ts";
 *
 * await using plugin = await startPlugin("./plugins/hello/main.ts", { contracts: [Greeter] });
 * console.log(await plugin.api(Greeter).sayHello("a")); // hello, a
 * ```
 * @throws {TypeError} for bad options, {@linkcode PreflightError} when the
 * checks refuse the plugin, {@linkcode TimeoutError} when the
 * handshake misses its deadline, {@linkcode PluginExitedError} when the
 * process dies first, {@linkcode ProtocolError} when the handshake is wrong.
 */
export async function startPlugin(module: string | URL, options: StartOptions): Promise<Plugin> {
  options = readOnce(module, options);
  refuseUnknownStartOptions(`Cannot start plugin "${module}"`, options); // review 165
  takeLists(module, options);
  checkStartNumbers(options);
  options.signal?.throwIfAborted();
  const plan = await planPlugin(module, options);
  return await launchPlugin(plan, options);
}

/**
 * Spawns a plugin from a plan made by `planPlugin` and completes the
 * handshake. For the CLI, which shows the plan first and speaks to whatever
 * contracts the plugin serves (`contracts` may be empty here).
 */
export async function launchPlugin(plan: LaunchPlan, options: StartOptions): Promise<Plugin> {
  let spawned = false;
  try {
    checkStartNumbers(options);
    options.signal?.throwIfAborted();
    // The start deadline begins when this launch does, not while it waits its turn.
    return await gatedLaunch(options.signal, async () => {
      // A plugin about to run may write these: every later plan in this process checks its grants
      // against them (grant_rules.ts), and this one is checked again against every launch so far.
      // A preview or a refused start ran nothing (review 46).
      admitLaunch({ ...plan, owner: `${plan.name}\0${plan.root}` });
      spawned = true; // from here the plugin's end releases what its plan holds
      const plugin = new Plugin(plan, options);
      (options as WatchedStartOptions)[ON_SPAWN]?.(plugin);
      await handshakeOf(plugin, options.startTimeout ?? 10_000, options.signal);
      return plugin;
    }, { background: (options as WatchedStartOptions)[IN_BACKGROUND] === true });
  } catch (error) {
    // Aborted or refused before it ran (a standby stopped while it waited its turn, review 48): a
    // run grant's own Deno dir is no one's.
    // Only a plan this launch took: another's may be running (a plan launched twice).
    if (!spawned && takeIssuedPlan(plan)) {
      releaseUnlaunchedPlan(plan); // and an audit's folder of its own (review 66)
    }
    throw error;
  }
}
