/**
 * The lifecycle manager: a host object owning many named plugins, stopping
 * them all on dispose, on SIGINT/SIGTERM, and (by SIGKILL) on unload.
 * @module
 */

import type { Contract, ContractApi } from "../contract.ts";
import type { ExitStatus } from "../errors.ts";
import type { LogEntry } from "./logs.ts";
import {
  type ManagedOptions,
  ManagedPlugin,
  type PluginEvent,
  type PluginState,
} from "./managed.ts";
import type { CallOptions } from "./proxy.ts";
import { guarded } from "./listener.ts";
import { checkFunctions, readOnce } from "./check_options.ts";
import { HOST_KEYS, MANAGED_KEYS, refuseUnknownStartOptions } from "./option_keys.ts";
import { refuseUnknownOptions } from "../sandbox/mod.ts";

/**
 * Options for {@linkcode PluginHost}.
 *
 * @example
 * ```ts ignore
 * import { PluginHost } from "@plugbox/plugbox";
 *
 * await using host = new PluginHost({
 *   onLog: (entry) => console.error(`[${entry.plugin}] ${entry.message}`),
 *   onEvent: (event) => console.error(`${event.plugin}: ${event.type}`),
 *   defaults: { callTimeout: 10_000, maxRestarts: 3 },
 * });
 * ```
 */
export interface PluginHostOptions {
  /** Receives every plugin's log lines, tagged with the plugin's name. */
  onLog?: (entry: LogEntry) => void;
  /** Receives start, exit, restart, standby, failed, unresponsive, fault, egress and (with `audit`) audit events. */
  onEvent?: (event: PluginEvent) => void;
  /**
   * Stop every plugin on SIGINT and SIGTERM, then exit with 128 + the signal
   * number. Where signals are unavailable (Windows has no SIGTERM), SIGINT
   * and SIGBREAK are used. Whatever it is, every plugin is SIGKILLed at
   * `unload` (`Deno.exit()`); SIGHUP is not taken.
   * @default {true}
   */
  handleSignals?: boolean;
  /** Defaults for every plugin this host starts. */
  defaults?: Partial<ManagedOptions>;
}

const hosts = new Set<PluginHost>();
let signalHandler: (() => void) | undefined;

function stopSignals(): string[] {
  return Deno.build.os === "windows" ? ["SIGINT", "SIGBREAK"] : ["SIGINT", "SIGTERM"];
}

function killEverything(): void {
  for (const host of hosts) host.killNow();
}

/** One process-wide set of handlers, shared by every host that wants them. */
function watchSignals(host: PluginHost): void {
  hosts.add(host);
  if (signalHandler) return;
  const handlers = stopSignals().map((signal) => {
    const handler = async () => {
      await Promise.allSettled([...hosts].map((h) => h.stopAll()));
      Deno.exit(128 + (signal === "SIGINT" ? 2 : signal === "SIGTERM" ? 15 : 21));
    };
    Deno.addSignalListener(signal as Deno.Signal, handler);
    return [signal, handler] as const;
  });
  // Async work cannot finish during unload, so children are SIGKILLed there.
  globalThis.addEventListener("unload", killEverything);
  signalHandler = () => {
    for (const [signal, handler] of handlers) {
      Deno.removeSignalListener(signal as Deno.Signal, handler);
    }
    globalThis.removeEventListener("unload", killEverything);
    signalHandler = undefined;
  };
}

function unwatchSignals(host: PluginHost): void {
  hosts.delete(host);
  if (hosts.size === 0) signalHandler?.();
}

/**
 * Owns many named plugins: start, get, restart, stop, stop all. Disposing it
 * (or a SIGINT/SIGTERM) stops every plugin before the host goes on.
 *
 * @example
 * ```ts ignore
 * import { PluginHost } from "@plugbox/plugbox";
 * import { Greeter } from "../plugins/hello/contract.ts";
 *
 * await using host = new PluginHost({ onLog: (e) => console.error(`[${e.plugin}] ${e.message}`) });
 * await host.start("hello", "./plugins/hello/main.ts", { contracts: [Greeter] });
 * const greeter = host.api("hello", Greeter); // follows the plugin across restarts
 * console.log(await greeter.sayHello("a"));
 * ```
 */
export class PluginHost implements AsyncDisposable {
  #plugins = new Map<string, ManagedPlugin>();
  /** Plugins a start of the same name replaced, until their stop is done: still this host's. */
  #replaced = new Set<ManagedPlugin>();
  #options: PluginHostOptions;
  #disposed = false;

  /** A host with no plugins yet; with `handleSignals` (the default) it stops them all on SIGINT/SIGTERM. */
  constructor(options: PluginHostOptions = {}) {
    // Review 145: null failed as "Cannot read properties of null (reading 'handleSignals')".
    if (typeof options !== "object" || options === null) {
      throw new TypeError(
        `Cannot make a plugin host: its options must be an object, got ${
          options === null ? "null" : typeof options
        }`,
      );
    }
    checkFunctions(options, ["onLog", "onEvent"]);
    // A misspelt option is named, not taken for one not given (review 165).
    refuseUnknownOptions("Cannot make a plugin host", options, HOST_KEYS);
    // Of the wrong kind, named too: `handleSignals: "false"` watched the signals (a string is
    // true), and `defaults: "abc"` was spread into every start as options "0", "1" and "2".
    const { handleSignals, defaults } = options as Record<string, unknown>;
    const kind = (value: unknown) =>
      value === null ? "null" : Array.isArray(value) ? "a list" : typeof value;
    if (handleSignals !== undefined && typeof handleSignals !== "boolean") {
      throw new TypeError(
        `Cannot make a plugin host: "handleSignals" must be true or false, got ${
          kind(handleSignals)
        }`,
      );
    }
    if (defaults !== undefined && (kind(defaults) !== "object")) {
      throw new TypeError(
        `Cannot make a plugin host: "defaults" must be an object of a plugin's options, got ${
          kind(defaults)
        }`,
      );
    }
    if (defaults !== undefined) {
      refuseUnknownStartOptions(
        `Cannot make a plugin host: its "defaults"`,
        defaults as object,
        MANAGED_KEYS,
      );
    }
    this.#options = options;
    if (options.handleSignals ?? true) watchSignals(this);
  }

  /**
   * Starts a plugin under `name` and keeps it alive per its restart policy.
   * @throws {TypeError} when the name is taken; whatever `startPlugin` throws.
   */
  async start(name: string, module: string | URL, options: ManagedOptions): Promise<ManagedPlugin> {
    if (this.#disposed) throw new TypeError(`Cannot start plugin "${name}": the host was disposed`);
    // Read once, as startPlugin reads its own (review 145: null failed as "Cannot read properties
    // of null (reading 'onLog')", a throwing getter with its bare error).
    options = readOnce(name, options);
    refuseUnknownStartOptions(`Cannot start plugin "${name}"`, options, MANAGED_KEYS);
    const existing = this.#plugins.get(name);
    if (existing && existing.state !== "stopped" && existing.state !== "failed") {
      throw new TypeError(
        `Cannot start plugin "${name}": a plugin of that name is ${existing.state}`,
      );
    }
    const onLog = this.#options.onLog;
    const managed = new ManagedPlugin(name, module, {
      ...this.#options.defaults,
      ...options,
      onLog: onLog || options.onLog
        ? (entry) => {
          // Each on its own: one that throws must not keep the entry from the other.
          guarded(options.onLog)(entry);
          guarded(onLog)(entry);
        }
        : undefined,
      emit: (event) => this.#options.onEvent?.(event),
    });
    // Made first: a start refused for its options replaces nothing (review 80: it had stopped the
    // failed plugin of that name, which stayed named by it). A failed plugin may still be restarted
    // by whoever holds it; stopped, it may not, so no process comes back that stopAll(), killNow()
    // and dispose() no longer see (review 59). Its stop is made at once, and this start stays
    // synchronous up to its entry. The standby its failure closes may still be on its ladder: the
    // host holds it until its stop is done.
    if (existing) void this.#retire(existing);
    this.#plugins.set(name, managed);
    await managed.start();
    return managed;
  }

  /**
   * Stops a plugin a start of its name replaced, holding it until its stop is done. A method of
   * its own: a closure made in `start` shares that call's scope with the new plugin's `emit` and
   * `onLog`, so the new plugin kept the one it replaced, which kept the one before it, and so on
   * for every start of the name in the host's life (review 138: about 1.7 KB a start and stop,
   * with the stderr tail of each).
   */
  #retire(existing: ManagedPlugin): Promise<ExitStatus | undefined> {
    this.#replaced.add(existing);
    return existing.stop().finally(() => this.#replaced.delete(existing));
  }

  /**
   * The managed plugin called `name`.
   * @throws {TypeError} when there is none.
   */
  get(name: string): ManagedPlugin {
    const managed = this.#plugins.get(name);
    if (!managed) throw new TypeError(`No plugin named "${name}" in this host`);
    return managed;
  }

  /** A typed API for the plugin called `name`, following it across restarts. */
  api<C extends Contract>(name: string, contract: C, options?: CallOptions): ContractApi<C> {
    return this.get(name).api(contract, options);
  }

  /** Names and states of every plugin this host knows. */
  list(): { name: string; state: PluginState; restarts: number }[] {
    return [...this.#plugins.values()].map((p) => ({
      name: p.name,
      state: p.state,
      restarts: p.restarts,
    }));
  }

  /**
   * Restarts the plugin called `name` now; a name this host does not know rejects (with
   * `get`'s TypeError), as every other failure of this promise does, rather than throwing.
   */
  async restart(name: string): Promise<void> {
    await this.get(name).restart();
  }

  /**
   * Stops the plugin called `name`; resolves with how its process ended. A name this host does
   * not know rejects, as `restart` does.
   */
  async stop(name: string): Promise<ExitStatus | undefined> {
    return await this.get(name).stop();
  }

  /**
   * Stops the plugin called `name` and forgets it: `list()` no longer shows it and `get(name)`
   * throws. A stopped plugin's name stays in the host, about 2 KB with its last stderr lines, so
   * a host that starts ever new names removes the ones it is done with (review 138). Until its
   * stop is done, `stopAll()`, `killNow()` and disposal still reach it. Resolves with how its
   * process ended; a name this host does not know rejects, as `stop` does.
   *
   * @example
   * ```ts ignore
   * await host.start(`job-${id}`, "./plugins/job/main.ts", { contracts: [Job] });
   * await host.api(`job-${id}`, Job).run();
   * await host.remove(`job-${id}`);
   * ```
   */
  async remove(name: string): Promise<ExitStatus | undefined> {
    const managed = this.get(name);
    this.#plugins.delete(name);
    return await this.#retire(managed);
  }

  /** Stops every plugin, in parallel; always resolves. */
  async stopAll(): Promise<void> {
    await Promise.allSettled([...this.#plugins.values(), ...this.#replaced].map((p) => p.stop()));
  }

  /** SIGKILLs every plugin at once, for exit paths that cannot wait. */
  killNow(): void {
    for (const managed of [...this.#plugins.values(), ...this.#replaced]) managed.killNow();
  }

  /** Stops every plugin and releases the signal handlers. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#disposed = true;
    try {
      await this.stopAll();
    } finally {
      unwatchSignals(this);
    }
  }
}
