/**
 * The host's handle on one running plugin: spawn from a plan, handshake,
 * calls with deadlines and an in-flight cap, exit detection, stop sequence.
 * @module
 */

import type { Contract, ContractApi } from "../contract.ts";
import { type ExitStatus, PluginExitedError, ProtocolError, TimeoutError } from "../errors.ts";
import { AuditRecorder } from "./audit.ts";
import type { AuditEntry, AuditLog } from "./audit_log.ts";
import { Caller } from "./calls.ts";
import { CallChannels, type StreamWindow } from "./call_channels.ts";
import {
  CapabilityHost,
  type Provided,
  strayInCall,
  WASTE_PER_PARSED_BYTE,
} from "./capabilities.ts";
import type { ChannelOptions } from "./method_calls.ts";
import { checkMs, checkStartNumbers } from "./check_options.ts";
import { gatedLaunch } from "./launch_gate.ts";
import { deadlineSignal } from "./deadlines.ts";
import { FaultBudget, WasteMeter } from "./fault_budget.ts";
import { checkHandshake } from "./handshake.ts";
import {
  admitLaunch,
  type IsolationLayer,
  type LaunchOptions,
  type LaunchPlan,
  planPlugin,
  releaseDenoDir,
  releaseUnlaunchedPlan,
  takeIssuedPlan,
} from "../sandbox/mod.ts";
import { Beside } from "./beside.ts";
import type { EgressEntry } from "./egress_log.ts";
import type { EgressResolver } from "./egress_check.ts";
import { type LogEntry, LogParser } from "./logs.ts";
import { Peer, ResponseError } from "../wire/mod.ts";
import { ScanOffload } from "./offload.ts";
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
import { type AnswerMap, CALL_TYPED, type CallOptions, createApi, mapAnswer } from "./proxy.ts";
import { toPluginError } from "./answer_errors.ts";
import { parseUntrusted } from "./untrusted_parse.ts";
import { neutralize, utf8Length } from "../wire/mod.ts";
import { LineTransport } from "../wire/mod.ts";
import { guarded } from "./listener.ts";

/**
 * A cancel is a few dozen bytes: its id is at most 256 characters (1,536
 * bytes even written as `\u` escapes). A longer one is a fault, never parsed.
 */
const MAX_CANCEL_BYTES = 4096;

/**
 * A blank line longer than this is a fault, not work for nothing: no
 * sender pads a line with kilobytes of white space, and a 16 MiB one is
 * scanned like any other line (review 65: floods of them cost a core).
 */
const MAX_BLANK_BYTES = 4096;

/**
 * A fault counts once, and once more for each this many bytes of its line:
 * a fault that cost the host a long line counts as the short ones it is
 * worth (review 65: a hundred 16 MiB lines every 10 s, each one fault,
 * held a host at 0.4 of a core for as long as they came).
 */
const BYTES_PER_FAULT = 256 * 1024;

/**
 * The plugin's capability calls held beyond the 64 handled at once, while
 * the host reads on: in count, and in bytes of their lines. With none,
 * 64 capabilities that each called the plugin back stopped the reading
 * their answers needed, until the calls' deadlines (review 59). A held
 * call keeps its line (up to `maxCapabilityBytes`, or a 64 KiB chunk it
 * came in), so both are bounded; past them a call is answered
 * "overloaded" (the SDK keeps its own calls within the count).
 */
const QUEUED_CAPABILITY_CALLS = 256;
const QUEUED_CAPABILITY_BYTES = 16 * 1024 * 1024;
/**
 * The window whose share of the host's time a plugin's capability calls may
 * take at once (100 ms at the default share): a burst ahead of the rate.
 */
const CAPABILITY_BURST_WINDOW_MS = 400;
/**
 * What a capability call costs the host that no clock around it sees (its
 * line's read, a short line's parse, the peer's bookkeeping), charged to
 * the plugin's share with what is timed: about a microsecond here, a third
 * of a 63-byte call's cost on the host (review 73: 233,000 such calls a
 * second took 73% of its thread at the default share).
 */
const REQUEST_OVERHEAD_MS = 0.001;
/**
 * The window whose share of the host's time a plugin's capability calls may
 * owe before the host refuses new ones "overloaded" (as past its queue):
 * 1 s at the default share, scaled with it (review 74: a fixed second was a
 * burst of a second at any share). An honest plugin owes at most its
 * unanswered calls' reading (16 MiB here: about 80 ms) and one call's run;
 * a plugin that cancels what waits would otherwise be read for ever
 * without paying.
 */
const CAPABILITY_MAX_OWED_WINDOW_MS = 4000;
/**
 * What a plugin's reading may owe whatever its share: an honest plugin's
 * unanswered calls (16 MiB, the SDK's bound) cost their reading whatever
 * the share, about 80 ms here (review 76: at a share of 0.01 the horizon
 * was 40 ms, and an honest plugin's nine stores of 2 MB were refused).
 */
const CAPABILITY_MIN_OWED_MS = 250;
/**
 * What writing an answer to a capability call costs the host per character,
 * beyond its serialisation (timed): its encoding and its write, in 64 KiB
 * parts as the plugin reads them, which no clock around the answer sees.
 * About 4 ns here (review 73: 256 KiB answers cost the host 1.35 ms each,
 * a quarter of it timed).
 */
const ANSWER_MS_PER_CHAR = 0.000004;
/** Capability calls handled at once (the peer's default). */
const MAX_CAPABILITY_CALLS = 64;

/**
 * Units of work for nothing (about a short line's each: fault_budget.ts)
 * that make one fault: with the default budget, 1.6 million in 10 s end a
 * plugin, about a second of the host's time; a plugin that reports
 * progress nobody asked for, 50 a second on each of 64 calls, makes a
 * fault every 5 s.
 */
const WASTE_PER_FAULT = 16_384;
/**
 * What an answer the host writes for nothing (a call refused "overloaded",
 * a call cancelled while it waited, whose line the plugin's share paid for)
 * costs it besides the call's line, in bytes of lines that do nothing: each cost 5 to 6 µs, as much as
 * 140 blank lines, and counted as one, they held a host at 0.73 of a core
 * within the budget (review 66). 4 KiB is 16 units: at most about 10,000 a
 * second within the default budget, a twentieth of a core.
 */
const ANSWER_WASTE_BYTES = 4096;

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
 * Options for {@linkcode startPlugin}: the launch options plus the session's.
 *
 * @example
 * ```ts ignore
 * import { startPlugin } from "@plugbox/plugbox";
 * import { Greeter } from "./plugins/hello/contract.ts";
 *
 * await using plugin = await startPlugin("./plugins/hello/main.ts", {
 *   contracts: [Greeter],
 *   permissions: { read: ["./data"] },
 *   startTimeout: 5_000,
 *   callTimeout: 2_000,
 *   onLog: (entry) => console.error(`[${entry.level}] ${entry.message}`),
 * });
 * ```
 */
export interface StartOptions extends LaunchOptions {
  /** The contracts the host will use; the handshake checks the plugin serves each. */
  contracts: readonly Contract[];
  /**
   * Deadline for the process to start and answer the handshake, in ms. It
   * begins when this plugin's launch begins: a host process launches at
   * most twice its cores' count of plugins at once (at least 4), and the
   * rest wait their turn first, so starting many at once does not time out.
   * @default {10000}
   */
  startTimeout?: number;
  /**
   * Default deadline for each call (queueing included), in ms.
   * @default {30000}
   */
  callTimeout?: number;
  /**
   * Calls sent to the plugin at once; more wait in line.
   * @default {64}
   */
  maxInFlight?: number;
  /**
   * Longest line accepted from the plugin; a longer one kills it.
   * @default {16 MiB}
   */
  maxLineBytes?: number;
  /**
   * Longest capability call the plugin may send, in bytes of its line. A
   * longer one is refused before it is parsed (a 16 MiB line costs the
   * host's thread about a third of a second), answered with an error that
   * names this option, and counted as a protocol fault weighed by its
   * length. The handshake tells the SDK, which refuses such a call in the
   * plugin with a `RangeError` naming this option. Raise it with a
   * capability that takes large arguments (`hostFetch`'s `maxRequestBytes`,
   * say, whose body travels JSON-escaped).
   * @default {2 MiB}
   */
  maxCapabilityBytes?: number;
  /**
   * The share of a host thread's time the plugin's capability calls may
   * take, over 0 and at most 1, measured call by call: the reading, scan
   * and parse of their lines (a long one's scan is on the plugin's own
   * Worker), the check of their arguments, each capability's synchronous
   * first step, the check of its result and the answer's serialisation,
   * with estimates for what no clock sees (the answer's write among them);
   * their cancels' reading too. Past it (after a burst of that share of
   * 400 ms: 100 ms at the default) the plugin's next calls wait in its
   * queue until the share has refilled: a plugin that sends what costs the
   * host far more to take than to send (a 2 MiB string: ten to seventeen
   * times the plugin's CPU) is slowed, not ended, and cannot take the event
   * loop every other plugin shares. Owing more than the share of 4 s (at
   * least 250 ms) for its reading alone (calls withdrawn before they ran
   * among it), its new calls are answered "overloaded", as calls past the
   * queue are; the SDK keeps within the queue.
   * @default {0.25}
   */
  capabilityTimeShare?: number;
  /**
   * Most bytes of messages that may wait for the plugin to read its input
   * (behind a write in flight); past it the plugin counts as not reading and
   * is killed with a `ProtocolError`. Raise it for a host that sends more
   * than this at once to a slow plugin. Answers to the plugin's capability
   * calls never pass it: while one more whole line might not fit, they wait
   * as values in their calls' slots.
   * @default {64 MiB}
   */
  maxQueuedBytes?: number;
  /**
   * Survivable protocol faults (stray output, invalid messages, answers to
   * nothing, requests to the host, messages over the structure caps)
   * allowed within `faultWindowMs`; one more kills the plugin as faulty.
   * @default {100}
   */
  maxFaults?: number;
  /**
   * The window for `maxFaults`, in ms.
   * @default {10000}
   */
  faultWindowMs?: number;
  /**
   * How long a cancelled or timed-out call may stay unanswered before the
   * plugin counts as unresponsive, in ms.
   * @default {2000}
   */
  cancelGraceMs?: number;
  /**
   * How long `close()` waits after closing stdin before SIGTERM, in ms.
   * @default {2000}
   */
  stopGraceMs?: number;
  /**
   * How long `close()` waits after SIGTERM before SIGKILL, in ms.
   * @default {1000}
   */
  stopTermMs?: number;
  /** Receives every stderr line of the plugin as a leveled, neutralised entry. */
  onLog?: (entry: LogEntry) => void;
  /**
   * stderr lines read per second; beyond it the plugin's stderr is dropped
   * unread until the next second, and one line says how many bytes were
   * dropped (a flood costs the host a read per chunk, not work per line).
   * @default {2000}
   */
  maxLogLinesPerSecond?: number;
  /** Told about survivable protocol faults (stray output, unknown ids). */
  onProtocolFault?: (detail: string) => void;
  /**
   * Told when a call it gave up on was not answered within `cancelGraceMs`:
   * the handler ignores cancellation (a busy loop, say), and still holds one
   * of the `maxInFlight` slots. Without this callback such a plugin is
   * killed; the manager passes one that kills and restarts it.
   */
  onUnresponsive?: (detail: string) => void;
  /**
   * With `audit`, told about each new distinct entry of the process's
   * audit (at most `audit.maxEntries` times per process).
   */
  onAudit?: (entry: AuditEntry) => void;
  /**
   * Told about each connection the plugin's egress proxy made or refused
   * (net grants under an OS layer); {@linkcode Plugin.egressLog} keeps the
   * recent ones.
   */
  onEgress?: (entry: EgressEntry) => void;
  /**
   * Resolves a granted name for the egress proxy, instead of the host's
   * resolver (its hosts file and DNS): a resolver of the host's own choosing
   * (pinned answers, DNS over HTTPS). Every address it gives is checked like
   * any other, so it cannot open a private address without `unsafe.privateNetwork`.
   * @default {the host's resolver (getaddrinfo)}
   */
  egressResolver?: EgressResolver;
  /**
   * The host's implementations of the contracts' capabilities, made by
   * `provide()`; every capability a contract declares must be given.
   */
  capabilities?: readonly Provided[];
  /**
   * Told when a capability's implementation threw something other than a
   * `CapabilityError` (the plugin is told only that it failed).
   */
  onCapabilityError?: (error: unknown, capability: string) => void;
  /**
   * How much of a streamed result may be granted and not yet consumed:
   * items, and bytes of their lines. One item may overrun the bytes (up to
   * `maxLineBytes`).
   * @default {{ items: 256, bytes: 1 MiB }}
   */
  streamWindow?: Partial<StreamWindow>;
  /**
   * Progress reports delivered per call per second; more are dropped.
   * @default {50}
   */
  maxProgressPerSecond?: number;
}

/**
 * The manager's hook on a start, internal (no user module is handed the symbol): told of the
 * process at its spawn, before its handshake. From then on the manager's `killNow()` reaches it;
 * an abort of the start kills it only once the handshake has noticed, on a later turn of the event
 * loop, which an exit path (`unload`, `Deno.exit`) never gives.
 */
export const ON_SPAWN: unique symbol = Symbol("plugbox.onSpawn");

/** {@linkcode StartOptions} with the manager's {@linkcode ON_SPAWN} hook. */
export interface WatchedStartOptions extends StartOptions {
  /** Told of the process at its spawn, before its handshake. */
  [ON_SPAWN]?: (plugin: Plugin) => void;
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
    this.#ended = process.status.then(async (status) => {
      const { oomKilled, left } = await beside.close();
      // Its processes all gone: a run, ffi or all grant's own Deno dir is no one's now. Kept while
      // one the kernel would not kill is left (review 49); a sweep takes it once this host ends.
      if (left.length === 0) releaseDenoDir(plan.env.DENO_DIR);
      // An exit plugbox did not cause, with the memory cgroup's OOM killer at work: out of memory.
      const ended: ExitStatus = oomKilled && status.reason === "exited"
        ? { ...status, reason: "out-of-memory" }
        : status;
      return left.length > 0 ? { ...ended, leftBehind: left } : ended;
    });
    // Once the cgroups are closed, exitStatus says what close() and exited say.
    void this.#ended.then((status) => this.#status = status);
    const queueCap = options.maxQueuedBytes ?? 64 * 1024 * 1024;
    const share = options.capabilityTimeShare ?? 0.25;
    this.#transport = new LineTransport(this.#process.stdout, this.#process.stdin, {
      maxLineBytes: options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES,
      maxQueuedBytes: queueCap,
      onQueueFull: () =>
        this.#protocolFault(
          `it stopped reading its input: more than ${queueCap} bytes of messages to it were waiting`,
        ),
      scan: { limits, offload: () => this.#offload.start() },
    });
    this.#peer = new Peer((message) => this.#transport.send(message), {
      flushed: () => this.#transport.flushed(),
      backlogged: () => this.#transport.backlogged,
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
    this.#process.status.then((status) => {
      this.#status = status;
      void this.#audit?.finish();
      this.#calls.clear();
      this.#peer.close(this.#failure ?? new PluginExitedError(this.name, status));
      // What stdout still holds once stderr is drained (or abandoned) is not read.
      void this.#transport.cancelRead();
      this.#offload.close();
    });
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

  /** Resolves when the process has exited (and its proxy and cgroup are gone). Never rejects. */
  get exited(): Promise<ExitStatus> {
    return this.#ended;
  }

  /** Calls sent and not yet answered (cancelled ones included). */
  get inFlight(): number {
    return this.#peer.pendingCount;
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
      return this.#peer.accept(found, typeof line === "number" && !asked ? line : 0);
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
    if (this.#channels.receive(message, bytes)) return;
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
          : `no answer to the handshake: ${this.#serveHint()}`,
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
  if (!options || !Array.isArray(options.contracts) || options.contracts.length === 0) {
    throw new TypeError(
      `Cannot start plugin "${module}": "contracts" must list at least one contract`,
    );
  }
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
    });
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
