/**
 * The grant rules that need more than a schema: write grants against code
 * and a root host, env names against the names the runtime reads itself.
 * @module
 */

import { neutralize } from "../wire/mod.ts";
import { ownRuntimeFiles, refuseEnvName, runtimeNames } from "./env_names.ts";
import { enclosingOnDisk, onDiskOnce } from "./on_disk.ts";
import { type Chain, isWithin } from "./paths.ts";
import { note, othersOverlapping, overlaps, type OwnedPaths } from "./owned_paths.ts";
import { refuseOthersCode, rememberFolders } from "./plugin_folders.ts";
import type { Permissions, ResolveGrantsOptions, UnsafeAcknowledgements } from "./permissions.ts";
import { refuseGrant } from "./grant_refusal.ts";

/** Whether one of `a` and `b` holds the other as spelled (not only on disk). */
const overlapsBySpelling = (a: string, b: string) => isWithin(a, b) || isWithin(b, a);

function refuse(detail: string): never {
  return refuseGrant(detail);
}

/**
 * Whether this process runs as root: from `Deno.uid()` when sys permission
 * allows it, else from the owner of a file it makes in `probeDir` (plugbox's
 * cache, which the host may always write), never by a prompt. When neither
 * can tell, it counts as root: the answer only ever adds a refusal.
 */
export function runsAsRoot(probeDir?: string): boolean {
  return (hostUid(probeDir) ?? 0) === 0;
}

/**
 * This process's user id, as {@linkcode runsAsRoot} learns it: from
 * `Deno.uid()` when sys permission allows it, else from the owner of a file
 * it makes in `probeDir`; undefined when neither can tell.
 *
 * @example
 * ```ts ignore
 * hostUid("/home/me/.cache/plugbox"); // 1000
 * ```
 */
export function hostUid(probeDir?: string): number | undefined {
  learntUid ??= askUid(probeDir); // a process's user does not change: asked until it is known
  return learntUid;
}

let learntUid: number | undefined;

function askUid(probeDir?: string): number | undefined {
  // Asked without a prompt: a host without sys permission is not interrupted by plugbox.
  try {
    if (Deno.permissions.querySync({ name: "sys", kind: "uid" }).state === "granted") {
      return Deno.uid() ?? undefined;
    }
  } catch {
    // no permissions API here: ask the file system
  }
  // Deno guards /proc/self behind --allow-all; a file this process makes is owned by its
  // effective uid, and the host may write its cache (a narrow host may write nothing else).
  let probe: string | undefined;
  try {
    probe = Deno.makeTempFileSync({ dir: probeDir, prefix: ".plugbox-uid-" });
    return Deno.statSync(probe).uid ?? undefined;
  } catch {
    return undefined;
  } finally {
    if (probe) {
      try {
        Deno.removeSync(probe);
      } catch {
        // a probe left in the cache costs nothing
      }
    }
  }
}

/**
 * Refuses write grants over code (unless `unsafe.writeCode`) and, from a
 * host running as root, any write grant (unless `unsafe.writeAsRoot`): the
 * plugin's files would be root's, and their mode its to set (THREATS T21).
 */
export function checkWrites(
  write: string[],
  ack: UnsafeAcknowledgements,
  options: ResolveGrantsOptions,
): void {
  if (!ack.writeCode) {
    if (write.length > 0 && options.codeUnknown) {
      refuse(`write "${write[0]}": ${options.codeUnknown}; pass unsafe.writeCode to accept`);
    }
    for (const path of write) {
      const root = onDiskOnce(() => (options.codeRoots ?? []).find((r) => overlaps(path, r)));
      if (root) {
        // One of them mounted at the other's place too: say so, since neither spelling shows it.
        const mounted = overlapsBySpelling(path, root) ? "" : " (one folder, at both paths)";
        refuse(
          `write "${path}": it overlaps "${root}"${mounted}, which holds code; pass unsafe.writeCode to accept`,
        );
      }
    }
  }
  if (write.length > 0 && !ack.writeAsRoot && (options.hostIsRoot ?? runsAsRoot())) {
    refuse(
      `write "${
        write[0]
      }": the host runs as root, so the plugin's files would be root's and it could leave set-UID executables or world-writable folders there; pass unsafe.writeAsRoot to accept`,
    );
  }
}

/**
 * Refuses a read or write grant spelled through a link that lies inside a
 * write grant, from the walk that resolved it (its `links`, its `real`). The plugin can put a link there between two starts, and the
 * grant, resolved again at each start, would then lead wherever the link
 * does: a folder no one granted, under every layer, and past a lock that
 * approved the spelling (review 41). A link the host made elsewhere on the
 * way is the host's own; the plugin's own folder holds no link at all (the
 * snapshot refuses one).
 *
 * @throws {TypeError} naming the grant, the link and the place it lies in.
 */
export function refusePlantedLinks(
  kind: "read" | "write",
  grant: Pick<Chain, "links" | "real"> & { spelled: string },
  writes: readonly string[],
): void {
  // Every link on the way, one at a time: a host's link outside every write grant may lead to a
  // place inside one, where the plugin's own link waits (review 44).
  for (const link of grant.links) {
    const write = enclosingOnDisk(link.path, writes);
    if (write) {
      refuse(
        `${kind} "${grant.spelled}": it leads through the link "${link.path}" inside the write grant "${write}", which a plugin can replace between starts; grant the path it leads to now ("${
          neutralize(grant.real, 300)
        }") if that is what you mean`,
      );
    }
  }
}

/**
 * Every write grant given in this process: a folder a plugin may write is a
 * place it can put a link, or swap a folder for one, under another start's
 * grant (review 44), its own later start's included (review 45: the same
 * plugin, restarted without the write grant, read through the link it had
 * planted). Kept for the process's life: a link outlives the plugin that
 * made it. Folders written by plugins of other processes are not known here.
 */
const written = new Set<string>();

/** Records the write grants of a plugin about to be launched (not a preview's, nor a refused start's). */
export function rememberWrites(writes: readonly string[]): void {
  for (const path of writes) written.add(path);
}

/** Folders given to write in this process, but for `current` (this start's own write grants). */
export function writtenBefore(current: readonly string[]): string[] {
  return [...written].filter((path) => !current.includes(path));
}

/**
 * Folders given to write in this process to starts whose plugin can make a
 * symbolic link: a command plugin, or one with a `run`, `ffi` or `all`
 * grant (Deno itself makes none with path-scoped grants).
 */
const linkable: OwnedPaths = new Map();
/**
 * Read and write grants of starts under the Deno layer alone in this
 * process: Deno checks a path before it follows the links in it, so a link
 * planted there later leads anywhere (review 60). The OS layers check what
 * a link leads to (a mount, Landlock's rules).
 */
const followed: OwnedPaths = new Map();

/** What {@linkcode rememberLaunch} and {@linkcode refuseLinkFollowing} look at in a start. */
export interface GrantHolder {
  /** `"command"` for a plugin in another language. */
  kind: "deno" | "command";
  /** The layer it runs under. */
  isolation: string;
  /** Its grants. */
  grants: { read: string[]; write: string[]; run: string[]; ffi: string[]; all: boolean };
  /** Under the Deno layer, what its links' `..` climb through (`checkGrantLinks`). */
  climbsThrough?: readonly string[];
  /** Its name, for messages. */
  name?: string;
  /** Its folder: code no other launch in this process may write (plugin_folders.ts). */
  root?: string;
  /** A command plugin's runtime folders: code too (plugin_folders.ts). */
  runtimeFolders?: readonly string[];
  /** The cache its snapshot is in: code too (plugin_folders.ts). */
  cacheDir?: string;
  /**
   * Who it is (its name and folder): its own earlier launches are not
   * another's (review 62: a plugin with a run and a write grant was refused
   * its own restart).
   */
  owner: string;
}

function makesLinks(start: GrantHolder): boolean {
  const { grants } = start;
  return start.kind === "command" || grants.all || grants.run.length > 0 || grants.ffi.length > 0;
}

/**
 * Judges a start's grants again against every launch so far, then records
 * them, in one step with no wait between: the plan's own check ran long
 * before (a Deno plugin's graph check takes a second), and two starts
 * planned at once each passed it before the other was recorded (review 61:
 * a Deno-layer reader read a host secret through a command plugin's link).
 *
 * @throws {TypeError} as {@linkcode refuseLinkFollowing},
 * {@linkcode refuseOthersCode} and {@linkcode refuseInsideOthersWrites} do;
 * nothing is recorded then.
 */
export function admitLaunch(start: GrantHolder): void {
  // Each folder's identity looked up once for every comparison (review 139).
  onDiskOnce(() => {
    refuseLinkFollowing(start);
    refuseOthersCode(start);
    const others = writtenBefore(start.grants.write);
    refuseMovedClimbs(start, others);
    for (const kind of ["read", "write"] as const) {
      for (const path of start.grants[kind]) refuseInsideOthersWrites(kind, path, others);
    }
  });
  rememberLaunch(start);
  rememberFolders(start);
}

/**
 * Paths the links of Deno-layer starts in this process climb through with
 * `..`, judged at their start as no plugin's to move (review 93).
 */
const climbed = new Set<string>();

/**
 * Refuses a start whose links climb through a folder another start was
 * given to write, and a start given to write where an earlier start's links
 * climb: a plugin that may move what a `..` climbs out of (a link of its own
 * put in a folder's place) makes another plugin's link lead anywhere above,
 * and each start's check judged only its own write grants (review 93: a
 * reader read a secret through a link a writer re-pointed so).
 *
 * @throws {TypeError} naming the path and the write grant.
 */
function refuseMovedClimbs(start: GrantHolder, others: readonly string[]): void {
  for (const path of start.climbsThrough ?? []) {
    const writer = others.find((folder) => isWithin(path, folder));
    if (writer) {
      refuse(
        `a folder holding a link that climbs with ".." through "${path}": it lies inside "${writer}", which a plugin was given to write in this process and so may move; make the link absolute, or grant folders apart`,
      );
    }
  }
  for (const folder of start.grants.write) {
    const path = [...climbed].find((path) => isWithin(path, folder));
    if (path) {
      refuse(
        `write "${folder}": a link a plugin under isolation "deno" was given climbs with ".." through "${path}" in it, and a plugin that may move it makes that link lead anywhere above; grant a folder apart from it`,
      );
    }
  }
}

/** Records the grants of a start about to be launched (not a preview's, nor a refused start's). */
export function rememberLaunch(start: GrantHolder): void {
  rememberWrites(start.grants.write);
  for (const path of start.climbsThrough ?? []) climbed.add(path);
  if (makesLinks(start)) note(linkable, start.grants.write, start.owner);
  if (start.isolation === "deno") {
    note(followed, [...start.grants.read, ...start.grants.write], start.owner);
  }
}

/**
 * Refuses, under the Deno layer, a read or write grant that overlaps a
 * folder another start in this process was given to write and can plant a
 * link in; and, for a start that can plant links, a write grant that
 * overlaps a Deno-layer start's grant. The link would be followed wherever
 * it leads: a Deno-layer plugin read a file no plugin was granted through
 * a link a command plugin planted after its start (review 60). The check at
 * its start finds no link yet.
 *
 * @throws {TypeError} naming both folders.
 */
export function refuseLinkFollowing(start: GrantHolder): void {
  const links = makesLinks(start);
  if (start.isolation === "deno" && !links) {
    for (const kind of ["read", "write"] as const) {
      for (const path of start.grants[kind]) {
        const other = othersOverlapping(linkable, path, start.owner);
        if (other) {
          refuse(
            `${kind} "${path}": it overlaps "${other}", which a plugin that can make links (a command plugin, or one with a run, ffi or all grant) was given to write in this process, and under isolation "deno" a link planted there is followed wherever it leads; use isolation "os" or "landlock", or grant a folder apart from it`,
          );
        }
      }
    }
  }
  if (!links) return;
  for (const path of start.grants.write) {
    const other = othersOverlapping(followed, path, start.owner);
    if (other) {
      refuse(
        `write "${path}": it overlaps "${other}", given in this process to a plugin under isolation "deno", which would follow a link this plugin can make there wherever it leads; run that one under isolation "os" or "landlock", or grant a folder apart from it`,
      );
    }
  }
}

/**
 * Refuses a grant strictly inside a folder given to write in this process
 * (not by this start): a plugin may swap what lies there for a link while
 * this one starts, between the check and the mount (review 44). The folder
 * itself may be granted (its own name is not the writer's to change).
 *
 * @throws {TypeError} naming the grant and the other plugin's folder.
 */
export function refuseInsideOthersWrites(
  kind: "read" | "write",
  path: string,
  others: readonly string[],
): void {
  const other = enclosingOnDisk(path, others);
  if (other) {
    refuse(
      `${kind} "${path}": it lies inside "${other}", which a plugin was given to write, and so may swap for a link while this one starts; grant "${other}" itself, or a folder no plugin writes`,
    );
  }
}

/**
 * Resolves env grants: names copied from the host or values given, each
 * name first checked against the runtime's own (THREATS T16).
 */
export function envGrants(
  requested: Permissions["env"],
  options: ResolveGrantsOptions,
): Record<string, string> {
  const given = Array.isArray(requested) ? requested : Object.keys(requested ?? {});
  if (given.length > 0) {
    const names = options.runtimeNames ?? runtimeNames(ownRuntimeFiles());
    for (const name of given) {
      const why = refuseEnvName(name, names);
      if (why) refuse(`env "${name}": it ${why}`);
    }
  }
  const env: Record<string, string> = {};
  if (Array.isArray(requested)) {
    for (const name of requested) {
      const value = options.hostEnv?.(name);
      if (value !== undefined) env[name] = value;
    }
  } else if (requested) Object.assign(env, requested);
  return env;
}
