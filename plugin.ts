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
export {
  HostError,
  hostOf,
  implement,
  type Implementation,
  log,
  type Logger,
  type LogLevel,
  serve,
  type ServeOptions,
} from "./runner/plugin/mod.ts";
