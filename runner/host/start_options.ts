/**
 * What `startPlugin` takes: the launch options (sandbox/plan.ts)
 * and the session's (deadlines, caps, listeners, capabilities).
 * @module
 */

import type { Contract } from "../contract.ts";
import type { LaunchOptions } from "../sandbox/mod.ts";
import type { AuditEntry } from "./audit_log.ts";
import type { StreamWindow } from "./call_channels.ts";
import type { Provided } from "./capabilities.ts";
import type { EgressEntry } from "./egress_log.ts";
import type { EgressResolver } from "./egress_check.ts";
import type { LogEntry } from "./logs.ts";

/**
 * Options for `startPlugin`: the launch options plus the session's.
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
   * The share of the host's event loop reading the plugin's answers and
   * stream items may take, over time: their parse and their check against
   * the contract (an item's as its consumer takes it, review 157).
   * Past it (after 250 ms at once) its stdout is not read until the share
   * has refilled, so that answers made costly to parse do not hold the
   * loop every other plugin shares (review 146). The share holds when no
   * other plugin needs the loop too: a plugin whose honest answers are
   * costly (64 calls at once, each 100,000 objects) is slowed past its calls'
   * deadlines. `1` reads its answers unpaced (review 153).
   * @default {0.25}
   */
  answerTimeShare?: number;
  /**
   * Most bytes of messages that may wait for the plugin to read its input
   * (behind a write in flight); past it the plugin counts as not reading and
   * is killed with a `ProtocolError`. Raise it for a host that sends more
   * than this at once to a slow plugin. Answers to the plugin's capability
   * calls that would pass it wait beside the queue, in order, up to as many
   * bytes again (their number is the plugin's slots): a plugin that reads 64
   * answers of a megabyte at once is not taken for one that stopped reading.
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
  /**
   * Receives every stderr line of the plugin as a leveled, neutralised
   * entry, within `maxLogLinesPerSecond` and 100 ms of the host's thread a
   * second (this callback's own time included).
   */
  onLog?: (entry: LogEntry) => void;
  /**
   * Milliseconds a line on the plugin's stdout may stay unfinished from its
   * first byte; past them the plugin is ended with a `ProtocolError` (a line
   * begun and never ended held its bytes, and a scanning Worker, for good:
   * review 95).
   * @default {30000}
   */
  maxPartialLineMs?: number;
  /**
   * stderr lines read per second; beyond it, or past 100 ms of the host's
   * thread a second on its lines, the plugin's stderr is not read until the
   * next second (the plugin waits on its pipe), and one line says how many
   * bytes were dropped.
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
   * (net grants under an OS layer); `Plugin.egressLog` keeps the
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
