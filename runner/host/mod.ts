/**
 * The host room: one running plugin (spawn from a plan, handshake, calls
 * with deadlines and an in-flight cap, typed proxies, stderr and logs, the
 * stop ladder) and many (the managed lifecycle and the `PluginHost`).
 *
 * May import: `runner/sandbox/` (for plans), `runner/wire/`,
 * `runner/contract.ts`, `runner/errors.ts`. Never the plugin side or the CLI.
 * @module
 */

export { type AuditCall, type AuditEntry, type AuditLog } from "./audit_log.ts";
export { type EgressEntry } from "./egress_log.ts";
export { type EgressResolver } from "./egress_check.ts";
export { type LogEntry, type LogLevel } from "./logs.ts";
export {
  type ManagedOptions,
  ManagedPlugin,
  type PluginEvent,
  type PluginState,
  type RestartPolicy,
} from "./managed.ts";
export { PluginHost, type PluginHostOptions } from "./manager.ts";
export { type Suggestion, suggestManifest, type SuggestOptions } from "./suggest.ts";
export { launchPlugin, Plugin, startPlugin } from "./plugin.ts";
export type { StartOptions } from "./start_options.ts";
export { type CallOptions, type CallTarget, createApi } from "./proxy.ts";
export { toCallError } from "./answer_errors.ts";
export { provide, type Provided } from "./capabilities.ts";
export { type HostFetch, hostFetch, type HostFetchOptions } from "./host_fetch.ts";
export { type HostSecret } from "./fetch_secrets.ts";
export { type FetchLogEntry } from "./fetch_log.ts";
export { type StreamWindow } from "./call_channels.ts";
