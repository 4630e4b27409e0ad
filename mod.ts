/**
 * plugbox: run untrusted plugins as sandboxed Deno subprocesses and call
 * them through typed, validated APIs derived from one zod contract.
 *
 * @example
 * ```ts ignore
 * import { startPlugin } from "@plugbox/plugbox";
 * import { Greeter } from "./plugins/hello/contract.ts";
 *
 * await using plugin = await startPlugin("./plugins/hello/main.ts", {
 *   contracts: [Greeter],
 *   permissions: { read: ["./data"] },
 * });
 * console.log(await plugin.api(Greeter).sayHello("a")); // "hello, a"
 * ```
 * @module
 */

export * from "./contract.ts";
export {
  describeExit,
  type ExitStatus,
  IsolationUnavailableError,
  PermissionDeniedError,
  PluginError,
  PluginExitedError,
  PluginTimeoutError,
  PluginUnavailableError,
  PreflightError,
  ProtocolError,
  ValidationError,
  type ValidationIssue,
} from "./runner/errors.ts";
export type { IsolationMode } from "./runner/isolation.ts";
export { type LaunchOptions, type LaunchPlan, planPlugin } from "./runner/launch.ts";
export type {
  Manifest,
  ManifestPolicy,
  ManifestReview,
  PermissionKind,
  PermissionRequest,
  UncoveredGrant,
} from "./runner/manifest.ts";
export type { GraphSummary } from "./runner/preflight.ts";
export type { DescribedContract, DescribedMethod, ServedContract } from "./runner/protocol.ts";
export type { LogEntry, LogLevel } from "./runner/logs.ts";
export {
  type ManagedOptions,
  ManagedPlugin,
  type PluginEvent,
  type PluginState,
  type RestartPolicy,
} from "./runner/managed.ts";
export { PluginHost, type PluginHostOptions } from "./runner/manager.ts";
export {
  type Permissions,
  type ResolvedGrants,
  resolveGrants,
  type ResolveGrantsOptions,
  SYS_NAMES,
  toDenoArgs,
  type UnsafeAcknowledgements,
} from "./runner/permissions.ts";
export { type CallOptions, type CallTarget, createApi } from "./runner/proxy.ts";
export type { Snapshot, SnapshotLimits } from "./runner/snapshot.ts";
export { Plugin, type StartOptions, startPlugin } from "./runner/start.ts";
