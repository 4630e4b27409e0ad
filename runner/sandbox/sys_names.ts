/**
 * The sys names Deno accepts for `--allow-sys`, as an allow-list in two
 * parts: reads, which a host may grant, and actions on other processes,
 * which need `unsafe.sysActions` (THREATS T17). A name Deno adds later is in
 * neither part, so it cannot be granted until plugbox has classified it.
 * @module
 */

/**
 * The values Deno 2.9.6 accepts for `--allow-sys`: the reads in
 * {@linkcode SYS_READS} and the actions in {@linkcode SYS_ACTIONS}. A name
 * Deno adds later is in neither list, so it cannot be granted until plugbox
 * has classified it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SYS_NAMES, type SysName } from "./sys_names.ts";
 *
 * const isSysName = (name: string): name is SysName =>
 *   (SYS_NAMES as readonly string[]).includes(name);
 * assert.ok(isSysName("hostname") && !isSysName("env"));
 * ```
 */
export const SYS_NAMES = [
  "hostname",
  "osRelease",
  "osUptime",
  "loadavg",
  "networkInterfaces",
  "systemMemoryInfo",
  "uid",
  "gid",
  "cpus",
  "homedir",
  "getegid",
  "username",
  "statfs",
  "getPriority",
  "setPriority",
  "userInfo",
] as const;

/**
 * One of Deno's `--allow-sys` names, as listed in {@linkcode SYS_NAMES}.
 *
 * @example
 * ```ts
 * import type { SysName } from "./sys_names.ts";
 * import type { Permissions } from "./permissions.ts";
 *
 * const sys: SysName[] = ["hostname", "osRelease"];
 * const permissions: Permissions = { sys };
 * ```
 */
export type SysName = (typeof SYS_NAMES)[number];

/**
 * Sys names that act on processes or the machine rather than read about
 * it (`setPriority` renices other processes): granted only with
 * `unsafe.sysActions`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SYS_ACTIONS } from "./sys_names.ts";
 * assert.ok(SYS_ACTIONS.includes("setPriority"));
 * ```
 */
export const SYS_ACTIONS: readonly SysName[] = ["setPriority"];

/**
 * Sys names that only read information about the machine: grantable.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SYS_READS } from "./sys_names.ts";
 * assert.ok(SYS_READS.includes("hostname") && !SYS_READS.includes("setPriority"));
 * ```
 */
export const SYS_READS: readonly SysName[] = SYS_NAMES.filter((n) => !SYS_ACTIONS.includes(n));
