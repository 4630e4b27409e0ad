/**
 * plugbox: run untrusted plugins as sandboxed Deno subprocesses and call
 * them through typed, validated APIs derived from one zod contract.
 *
 * The host side: {@linkcode startPlugin} for one plugin,
 * {@linkcode PluginHost} for many, {@linkcode previewStart} to review
 * exactly what a start would run, and the error classes a caller catches.
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
  CapabilityError,
  describeExit,
  type ExitStatus,
  IsolationUnavailableError,
  type LockDifference,
  LockError,
  PermissionDeniedError,
  PluginError,
  PluginExitedError,
  PluginUnavailableError,
  PreflightError,
  ProtocolError,
  type StartRefusal,
  type StartRefusalReason,
  StartRefusedError,
  TimeoutError,
  ValidationError,
  type ValidationIssue,
} from "./runner/errors.ts";
export {
  type AuditCall,
  type AuditEntry,
  type AuditLog,
  type CallOptions,
  type EgressEntry,
  type EgressResolver,
  type FetchLogEntry,
  type HostFetch,
  hostFetch,
  type HostFetchOptions,
  type HostSecret,
  type LogEntry,
  type LogLevel,
  type ManagedOptions,
  type ManagedPlugin,
  type Plugin,
  type PluginEvent,
  PluginHost,
  type PluginHostOptions,
  type PluginState,
  provide,
  type Provided,
  type RestartPolicy,
  type StartOptions,
  startPlugin,
  type StreamWindow,
  type Suggestion,
  suggestManifest,
  type SuggestOptions,
} from "./runner/host/mod.ts";
export {
  type Approval,
  approvePlugin,
  type AuditOptions,
  type AuditPlan,
  type CpuLimits,
  type CpuPlan,
  type EgressPlan,
  type EgressRule,
  type GraphSummary,
  type IsolationLayer,
  type IsolationMode,
  type LaunchOptions,
  type LaunchPlan,
  type LockChange,
  type LockEntry,
  type LockOptions,
  type LockPolicy,
  type Manifest,
  type ManifestPolicy,
  type ManifestReview,
  type PermissionKind,
  type PermissionRequest,
  type Permissions,
  previewStart,
  pruneCache,
  type PruneCacheOptions,
  type PruneResult,
  type ResolvedGrants,
  type ReviewedRequest,
  type Snapshot,
  type SnapshotLimits,
  SYS_ACTIONS,
  SYS_NAMES,
  SYS_READS,
  type SysName,
  type UncoveredGrant,
  type UnsafeAcknowledgements,
} from "./runner/sandbox/mod.ts";
export {
  type DescribedContract,
  type DescribedMethod,
  ResponseError,
  type ServedContract,
} from "./runner/wire/mod.ts";
