/**
 * The sandbox room: everything decided before a plugin process exists.
 * Grants are validated and turned into Deno flags, the manifest reviewed,
 * the plugin's folder snapshotted, its module graph checked (or, for a plugin
 * in another language, its command's program found), the Deno binary and the
 * isolation layer chosen and its wrappers built, the prebuilt SDK written to
 * the cache; the result is one frozen launch plan.
 *
 * May import: `runner/wire/`, `runner/contract.ts`, `runner/errors.ts`,
 * `node:` built-ins, zod. Never the host or the CLI.
 * @module
 */

export { type AuditOptions, type AuditPlan } from "./audit_setup.ts";
export { AUDIT_KINDS, judgeCheck, type JudgedCheck, MAX_AUDIT_VALUE } from "./audit_verdict.ts";
export { type Approval, approvePlugin } from "./approve.ts";
export {
  closeCgroups,
  type ClosedCgroups,
  type CpuLimits,
  type CpuPlan,
  killCgroupsNow,
  makeCgroups,
  oomKilledNow,
} from "./cpu_limits.ts";
export { type EgressPlan, type EgressRule } from "./egress.ts";
export { type IsolationLayer, type IsolationMode } from "./isolation.ts";
export { parseCapped } from "./json_file.ts";
export { GO_LINE } from "./layers.ts";
export { EXEC_MARK, readVerdict, type StartVerdict } from "./start_verdict.ts";
export { kernelShowsWaits, readText, statAt } from "./proc_view.ts";
export {
  childrenOf,
  endedOrKilled,
  send,
  sendEach,
  sendEachLater,
  stateOf,
  statFields,
} from "./proc_tree.ts";
export { descendantsOf, killSeen, killTree, killTreeNow, type SeenProcess } from "./kill_tree.ts";
export { describeDifferences, type LockChange, type LockOptions, type LockPolicy } from "./lock.ts";
export { type LockEntry } from "./lock_file.ts";
export { admitLaunch } from "./grant_rules.ts";
export { releaseDenoDir } from "./locate.ts";
export { releaseSnapshot } from "./snapshot.ts";
export { pruneCache, type PruneCacheOptions, type PruneResult } from "./prune_cache.ts";
export { canonicalNetGrant, isPrivateHost } from "./net.ts";
export {
  describeRequest,
  describeUncovered,
  type Manifest,
  MANIFEST_KINDS,
  type ManifestPolicy,
  type ManifestReview,
  type PermissionKind,
  type PermissionRequest,
  type ReviewedRequest,
  type UncoveredGrant,
} from "./manifest.ts";
export { canonicalLoose, canonicalPath, isWithin } from "./paths.ts";
export {
  type Permissions,
  type ResolvedGrants,
  resolveGrants,
  type ResolveGrantsOptions,
  SYS_ACTIONS,
  SYS_NAMES,
  SYS_READS,
  type SysName,
  toDenoArgs,
  type UnsafeAcknowledgements,
} from "./permissions.ts";
export {
  explainHostPermission,
  type LaunchOptions,
  type LaunchPlan,
  planPlugin,
  previewStart,
  releaseUnlaunchedPlan,
  takeIssuedPlan,
} from "./plan.ts";
export {
  LAUNCH_KEYS,
  refuseHiddenKeys,
  refuseUnknownKeys,
  refuseUnknownOptions,
} from "./option_keys.ts";
export { didYouMean } from "./suggest.ts";
export { type GraphSummary } from "./preflight.ts";
export { type Snapshot, type SnapshotLimits } from "./snapshot.ts";
