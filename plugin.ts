/**
 * The plugin-side SDK: implement a contract and serve it over stdin/stdout.
 * The implementation is type-checked against the contract, arguments are
 * validated before it runs, and `console.log` goes to stderr.
 *
 * @example
 * ```ts ignore
 * import { implement, serve } from "@plugbox/plugbox/plugin";
 * import { Greeter } from "./contract.ts";
 *
 * await serve(implement(Greeter, { sayHello: (name) => `hello, ${name}` }));
 * ```
 * @module
 */

export * from "./contract.ts";
export { Dispatcher, implement, type Implementation } from "./runner/dispatch.ts";
export { log, type Logger, type LogLevel } from "./runner/log.ts";
export { serve, type ServeOptions } from "./runner/serve.ts";
export type { RequestContext } from "./runner/peer.ts";
export type { RequestId } from "./runner/protocol.ts";
export type { DescribedContract, DescribedMethod, ServedContract } from "./runner/protocol.ts";
