/**
 * The plugin room: the SDK a plugin runs. `implement` pairs a contract with
 * its implementation, `serve` speaks the protocol over stdin/stdout, the
 * dispatcher validates arguments and results, and `log` writes structured
 * lines to stderr. Bundled with zod and mapped into every plugin.
 *
 * May import: `runner/wire/`, `runner/contract.ts`, `runner/errors.ts`.
 * Never the host, the sandbox or the CLI: a plugin carries none of them.
 * @module
 */

export { Dispatcher, implement, type Implementation } from "./dispatch.ts";
export { log, type Logger, type LogLevel } from "./log.ts";
export { hostOf, serve, type ServeOptions } from "./serve.ts";
export { HostError } from "./host_calls.ts";
