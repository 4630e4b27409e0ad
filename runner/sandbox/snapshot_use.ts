/**
 * Which snapshots are in use, across every host process sharing one cache:
 * a start holds a lease on its snapshot from before it looks for it until
 * its plugin ends, and a snapshot is removed (snapshot_prune.ts) only under
 * its gate, with no lease held. A lease is a claim (claim_file.ts) at a
 * name of its own, `snapshots/.use/<name>.<uuid>`: a file locked (`flock`)
 * before it is linked into place, so one that is there unlocked is a dead
 * process's, and no process that may only read the cache can make a start
 * wait (it can lock no file a start needs). The gate, `<name>.prune`, is a
 * claim a removal holds while it looks for leases and moves the snapshot
 * out.
 *
 * Why a start that is about to use an entry is safe: it links its lease,
 * then looks at the gate. If the gate is not there, a removal that claims
 * it later looks for leases later, and finds this one. If it is there, the
 * start waits for it to go, then looks for the snapshot again (written anew
 * if it was removed), its lease held all the while.
 * @module
 */

import { join } from "node:path";
import { type Claim, osReason, tryClaim, waitForClaim } from "./claim_file.ts";
import { neutralize } from "../wire/mod.ts";
import type { Snapshot } from "./snapshot.ts";

/** The folder of leases and gates, in `snapshots/`. */
export const USE_DIR = ".use";

/** A lease's name: the snapshot's, then a UUID. */
export const LEASE_NAME =
  /^([0-9a-f]{32})\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The gate of the snapshot `name` in `snapshots`. */
export function gatePath(snapshots: string, name: string): string {
  return join(snapshots, USE_DIR, `${name}.prune`);
}

/** How long a start waits for a removal's gate: a removal holds it for a few file operations. */
const GATE_WAIT_MS = 10_000;

/**
 * Holds a lease on the snapshot `name` in `snapshots` (which need not
 * exist yet), once no removal of it is under way. The caller then looks
 * for the snapshot (and writes it if it is not there): it is not removed
 * until the lease is released.
 *
 * @throws {TypeError} when the cache has no `flock` or hard links, or a
 * removal's gate is held for longer than 10 s.
 */
export async function leaseSnapshot(
  snapshots: string,
  name: string,
  signal?: AbortSignal,
): Promise<Claim> {
  const uses = join(snapshots, USE_DIR);
  const fail = (detail: string) =>
    new TypeError(
      `Cannot use plugbox's cache "${neutralize(snapshots, 300)}": a snapshot's lease in "${
        neutralize(uses, 300)
      }": ${detail}`,
    );
  // What to do, with the OS's words (review 160: a file in the folder's place failed every start
  // with Deno's bare "File exists (os error 17)").
  const cannot = (detail: string) =>
    fail(
      `${detail}; this user must be able to make, lock and link files there (remove what is in ` +
        `its way, or give the start another cacheDir)`,
    );
  try {
    Deno.mkdirSync(uses, { recursive: true });
  } catch (error) {
    throw cannot(osReason(error));
  }
  const lease = tryClaim(join(uses, `${name}.${crypto.randomUUID()}`), cannot);
  if (!lease) throw fail("another process took its new name"); // a UUID's: never
  try {
    if (exists(gatePath(snapshots, name))) {
      const gate = await waitForClaim(gatePath(snapshots, name), {
        waitMs: GATE_WAIT_MS,
        fail: cannot,
        busy: () =>
          fail(
            `"${
              gatePath(snapshots, name)
            }" stayed held for ${GATE_WAIT_MS} ms (a removal stopped, or a process that may read the cache holds it); end it, or remove the file`,
          ),
        signal,
      });
      gate.release(); // only waited for: a removal that held it has moved the snapshot out
    }
    return lease;
  } catch (error) {
    lease.release();
    throw error;
  }
}

/** Whether anything is at `path` (a link is not followed). */
export function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Each snapshot this process uses, with its lease: released at its plugin's end. */
const leases = new Map<Snapshot, Claim>();

/** Keeps `lease` for `snapshot` until {@linkcode releaseSnapshot}. */
export function holdLease(snapshot: Snapshot, lease: Claim): void {
  leases.set(snapshot, lease);
}

/**
 * Ends this process's use of `snapshot` (its plugin has ended, or its plan
 * will never run): a removal may take it once no other use holds it.
 * Calling it again, or for a snapshot not taken here, does nothing.
 *
 * @example
 * ```ts ignore
 * const snapshot = await takeSnapshot(root, entry, { plugin: "p", cacheDir });
 * releaseSnapshot(snapshot); // never run
 * ```
 */
export function releaseSnapshot(snapshot: Snapshot | undefined): void {
  const lease = snapshot && leases.get(snapshot);
  if (!lease) return;
  leases.delete(snapshot);
  lease.release();
}

/**
 * Marks `dir` used now: removals take the snapshots used longest ago first.
 * Its owner may set its times though it is read-only; best effort.
 */
export function stampUse(dir: string): void {
  try {
    const now = new Date();
    Deno.utimeSync(dir, now, now);
  } catch {
    // another user's (a root host's cache read by a plain one): its time stays
  }
}
