/**
 * Plugin side main loop: stdin/stdout transport, the handshake, dispatch,
 * and exit when stdin closes.
 * @module
 */

import { Dispatcher, type Implementation } from "./dispatch.ts";
import { CallSlots, HostLimits } from "./host_limits.ts";
import { Peer, type RequestContext, type RequestId, ResponseError } from "../wire/mod.ts";
import {
  ErrorCode,
  type InitializeParams,
  type InitializeResult,
  NONCE_FLAG,
  PROTOCOL_VERSION,
  RuntimeMethod,
} from "../wire/mod.ts";
import { LineTransport } from "../wire/mod.ts";
import { measured } from "./stream_out.ts";
import type { Contract, HostApi } from "../contract.ts";
import { hostApi, type HostLink } from "./host_calls.ts";

let connected: HostLink | undefined;

/**
 * The host's capabilities outside any handler (at top level, once `serve`
 * has started): calls made through it belong to no call, so only the
 * plugin's own signal (none here) or its exit ends them. Inside a handler,
 * use `ctx.host`, whose calls are cancelled with the handler's call.
 *
 * @example
 * ```ts ignore
 * import { hostOf, implement, serve } from "@plugbox/plugbox/plugin";
 * import { Notes } from "./contract.ts";
 *
 * const serving = serve(implement(Notes, { count: () => 1 }));
 * console.error(await hostOf(Notes).load("greeting")); // at start, before any call
 * await serving;
 * ```
 * @throws {TypeError} before `serve` was called.
 */
export function hostOf<C extends Contract>(contract: C): HostApi<C> {
  if (!connected) throw new TypeError("Cannot reach the host: call serve() first");
  return hostApi(contract, connected, undefined, undefined);
}

/**
 * Options for {@linkcode serve}; the defaults are what a real plugin uses.
 *
 * @example Serve over in-memory streams, as a test does
 * ```ts ignore
 * import { implement, serve } from "@plugbox/plugbox/plugin";
 * import { Greeter } from "./contract.ts";
 *
 * const toPlugin = new TransformStream<Uint8Array, Uint8Array>();
 * const fromPlugin = new TransformStream<Uint8Array, Uint8Array>();
 * const served = serve(implement(Greeter, { sayHello: (name) => `hello, ${name}` }), {
 *   input: toPlugin.readable,
 *   output: fromPlugin.writable,
 *   args: ["--plugbox-nonce=test"],
 * });
 * ```
 */
export interface ServeOptions {
  /**
   * Where requests come from.
   * @default {Deno.stdin, read directly (not through its `readable`: that costs a start about 5 ms)}
   */
  input?: ReadableStream<Uint8Array>;
  /**
   * Where responses go. When it is the real stdout, `console.log`, `info`
   * and `debug` are sent to stderr so stdout stays the protocol channel.
   * @default {Deno.stdout, written with blocking writes}
   */
  output?: WritableStream<Uint8Array>;
  /**
   * The command line holding the nonce.
   * @default {Deno.args}
   */
  args?: readonly string[];
  /**
   * Exit the process when the input closes (pending timers would keep it alive).
   * @default {true when input is the real stdin}
   */
  exitOnClose?: boolean;
}

function nonceFrom(args: readonly string[]): string | undefined {
  const prefix = `${NONCE_FLAG}=`;
  return args.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}

function short(nonce: unknown): string {
  const text = typeof nonce === "string" ? nonce : JSON.stringify(nonce) ?? "nothing";
  return JSON.stringify(text.length > 16 ? `${text.slice(0, 16)}…` : text);
}

/** Keeps stdout for the protocol: console output that would go there goes to stderr. */
function redirectConsole(): void {
  console.log = console.error;
  console.info = console.error;
  console.debug = console.error;
}

/**
 * The real stdout, written with blocking writes: an async write costs the
 * event loop an extra wake-up per response (measured in BENCHMARKS.md), and a
 * plugin whose host stops reading has nothing better to do than wait.
 */
const stdoutSink = {
  write(bytes: Uint8Array): Promise<void> {
    for (let offset = 0; offset < bytes.length;) {
      offset += Deno.stdout.writeSync(bytes.subarray(offset));
    }
    return Promise.resolve();
  },
  close(): Promise<void> {
    Deno.stdout.close();
    return Promise.resolve();
  },
};

class Session {
  initialized = false;
  #dispatcher: Dispatcher;
  #nonce: string | undefined;
  #transport: LineTransport;
  #limits: HostLimits;

  constructor(
    dispatcher: Dispatcher,
    nonce: string | undefined,
    transport: LineTransport,
    limits: HostLimits,
  ) {
    this.#dispatcher = dispatcher;
    this.#nonce = nonce;
    this.#transport = transport;
    this.#limits = limits;
  }

  handle(method: string, params: unknown, context: RequestContext): unknown {
    if (method === RuntimeMethod.initialize) return this.#initialize(params);
    if (!this.initialized) {
      throw new ResponseError(ErrorCode.NotInitialized, `"${method}" before "$/initialize"`);
    }
    if (method === RuntimeMethod.ping) return {};
    if (method === RuntimeMethod.describe) return { contracts: this.#dispatcher.describe() };
    return this.#dispatcher.dispatch(method, params, context);
  }

  #initialize(raw: unknown): InitializeResult {
    const params = (typeof raw === "object" && raw !== null ? raw : {}) as Partial<
      InitializeParams
    >;
    if (params.protocolVersion !== PROTOCOL_VERSION) {
      throw new ResponseError(
        ErrorCode.UnsupportedProtocol,
        `Plugin speaks protocol version ${PROTOCOL_VERSION}, host sent ${
          JSON.stringify(params.protocolVersion)
        }`,
        { supported: [PROTOCOL_VERSION] },
      );
    }
    if (this.#nonce === undefined || params.nonce !== this.#nonce) {
      throw new ResponseError(
        ErrorCode.NonceMismatch,
        `Nonce mismatch: plugin was started with ${
          this.#nonce === undefined ? `no ${NONCE_FLAG}` : short(this.#nonce)
        }, host sent ${short(params.nonce)}`,
      );
    }
    if (Number.isSafeInteger(params.maxLineBytes) && params.maxLineBytes! >= 1024) {
      this.#transport.maxLineBytes = params.maxLineBytes!;
    }
    this.#limits.take(params);
    this.initialized = true;
    return {
      protocolVersion: PROTOCOL_VERSION,
      nonce: this.#nonce,
      contracts: this.#dispatcher.served,
    };
  }
}

/**
 * Serves one or more contract implementations over stdin/stdout until the
 * host closes stdin, then exits. Call it once, from the plugin's main module.
 *
 * @example
 * ```ts ignore
 * import { implement, serve } from "@plugbox/plugbox/plugin";
 * import { Greeter } from "../contract.ts";
 *
 * await serve(implement(Greeter, { sayHello: (name) => `hello, ${name}` }));
 * ```
 */
export async function serve(
  implementations: Implementation | readonly Implementation[],
  options: ServeOptions = {},
): Promise<void> {
  const list = Array.isArray(implementations) ? implementations : [implementations];
  if (list.length === 0) throw new TypeError("Cannot serve: no implementation given");
  const dispatcher = new Dispatcher(list as Implementation[]);
  const realStdio = options.input === undefined;
  if (options.output === undefined) redirectConsole();
  const transport = new LineTransport(
    options.input ?? Deno.stdin,
    options.output ?? stdoutSink,
  );
  const limits = new HostLimits();
  const session = new Session(dispatcher, nonceFrom(options.args ?? Deno.args), transport, limits);
  const peer = new Peer((message) => transport.send(message, limits.capLine(message)), {
    flushed: () => transport.flushed(),
    onRequest: (method, params, context) => session.handle(method, params, context),
    onNotification: (method, params) => dispatcher.notify(method, params),
    onViolation: (detail) => console.error(`plugbox: ignored from host: ${detail}`),
    // Calls beyond the 64 handled at once wait here while input is still read: a handler waiting
    // on the host (a capability's answer, a stream's credit) gets it (review 59). The host sends
    // at most its maxInFlight (64 by default) at once.
    maxQueuedRequests: 1024,
  });
  const slots = new CallSlots(limits, peer);
  const link = {
    request: (method: string, params: unknown, options: { signal?: AbortSignal }) =>
      slots.request(method, params, options),
    progressPerSecond: () => limits.progressPerSecond,
    takeProgress: (bytes: number) => limits.takeProgress(bytes),
    handling: (id: RequestId) => peer.isHandling(id),
    notify: (method: string, params: unknown) => peer.notify(method, params),
    send: measured((message) => transport.send(message)),
  };
  dispatcher.connect(link);
  connected = link;
  let failure: unknown;
  try {
    await transport.run({
      onMessage: (value) => peer.receive(value),
      onStray: (line) => console.error(`plugbox: ignored non-JSON input: ${line.slice(0, 200)}`),
      // Answers first, then the next read: one wake-up less per call.
      afterChunk: () => transport.flushed(),
    });
  } catch (error) {
    failure = error;
    console.error(`plugbox: stopped reading input: ${error}`);
  }
  peer.close(new Error("stdin closed"));
  await transport.close();
  if (options.exitOnClose ?? realStdio) Deno.exit(failure ? 1 : 0);
  if (failure) throw failure;
}
