/**
 * Where a path lies in its file system, by this process's mounts
 * (`/proc/self/mountinfo`): each mount shows its file system's device, the
 * folder of that file system it shows, and where. Two paths that name one
 * folder through different mounts (a bind mount of a folder below another,
 * a file system mounted twice) have one place, which neither spelling nor
 * the folders up either path show (review 139).
 * @module
 */

import { join } from "node:path";
import { onHostPath } from "./host_path.ts";

/** One mount: its file system's device (`major:minor`), the folder of it shown, and where. */
export interface Mount {
  device: string;
  root: string;
  at: string;
}

/** A path as its file system's own: the device, and the path from that file system's root. */
export interface Place {
  device: string;
  path: string;
}

/**
 * A mountinfo field with the kernel's octal escapes (`\040`, `\011`, `\012`, `\134`) undone.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { unescapedMountField } from "./mount_places.ts";
 * assert.equal(unescapedMountField("/a\\040b"), "/a b");
 * ```
 */
export function unescapedMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal) => String.fromCharCode(parseInt(octal, 8)));
}

/**
 * This process's mounts, in the order mountinfo lists them (a mount after the one it covers);
 * undefined where they cannot be read (no /proc, a host allowed neither to read it nor to run `sh`).
 *
 * @example
 * ```ts ignore
 * const mounts = readMounts() ?? [];
 * ```
 */
export function readMounts(): Mount[] | undefined {
  const text = mountinfoHere() ?? mountinfoBySh();
  if (text === undefined) return undefined;
  const mounts: Mount[] = [];
  for (const line of text.split("\n")) {
    const fields = line.split(" ");
    if (fields.length < 5 || !fields[3].startsWith("/") || !fields[4].startsWith("/")) continue;
    const [root, at] = [fields[3], fields[4]].map(unescapedMountField);
    mounts.push({ device: fields[2], root, at });
  }
  return mounts;
}

const MOUNTINFO = "/proc/self/mountinfo";

/**
 * Read by `cat` where there is one (the shell's read loop took 75 ms for 2,000 mounts, cat
 * 12 ms); the shell's and cat's own mounts are this process's: they are spawned in no namespace of
 * their own.
 */
const SHOW_MOUNTS = `if command -v cat >/dev/null; then exec cat ${MOUNTINFO}; fi
while IFS= read -r l; do printf '%s\\n' "$l"; done < ${MOUNTINFO}`;

/** mountinfo read here, where Deno lets this process read it (it wants `--allow-all`). */
function mountinfoHere(): string | undefined {
  try {
    return Deno.readTextFileSync(MOUNTINFO);
  } catch {
    return undefined;
  }
}

/**
 * mountinfo read by `sh`, where Deno refuses it here: anything short of `--allow-all`, the
 * README's recommended host permissions among them, whose --allow-run names `sh` (review 141:
 * there the mounts were never read, and a grant of a second mount of a folder below code passed).
 */
function mountinfoBySh(): string | undefined {
  try {
    const sh = onHostPath("sh");
    if (!sh || Deno.permissions.querySync({ name: "run", command: sh }).state !== "granted") {
      return undefined;
    }
    const shown = new Deno.Command(sh, {
      args: ["-c", SHOW_MOUNTS],
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    return shown.success ? new TextDecoder().decode(shown.stdout) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `path` is `at` or lies below it, by spelling. */
const below = (path: string, at: string) =>
  path === at || path.startsWith(at.endsWith("/") ? at : `${at}/`);

/**
 * `path`'s place, by the mount it lies under: the deepest, and of two at one path the one listed
 * last, which covers the other. Undefined under no mount.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { placeOf } from "./mount_places.ts";
 * const mounts = [
 *   { device: "8:1", root: "/", at: "/" },
 *   { device: "8:1", root: "/srv/code/data", at: "/mnt/data" },
 * ];
 * assert.deepEqual(placeOf("/mnt/data/x", mounts), { device: "8:1", path: "/srv/code/data/x" });
 * ```
 */
export function placeOf(path: string, mounts: readonly Mount[]): Place | undefined {
  let found: Mount | undefined;
  for (const mount of mounts) {
    if (below(path, mount.at) && (!found || mount.at.length >= found.at.length)) found = mount;
  }
  if (!found) return undefined;
  return { device: found.device, path: join(found.root, path.slice(found.at.length) || ".") };
}
