/**
 * The descriptors the host inherited from its parent, which every child it
 * spawns inherits in turn: Deno opens its own close-on-exec, so what is open
 * above 2 without that flag came from whoever started the host (a shell's
 * `7<file`, a CI runner's pipe, a supervisor's socket). The prologue closes
 * them in a plugin's first step; without `sh` there is no such step, and this
 * is how the host knows a start would hand them over (review 121's class).
 * @module
 */

/** `O_CLOEXEC` as `/proc/<pid>/fdinfo/<n>` shows it in its octal `flags` field (x86 and arm). */
const O_CLOEXEC = 0o2000000;

/**
 * The numbers of the descriptors above 2 this process holds open without
 * close-on-exec, or a reason they cannot be listed (no `/proc`, or no read
 * permission for `/proc/self/fd`).
 *
 * @example
 * ```ts
 * import { inheritedDescriptors } from "./inherited_fds.ts";
 * const found = inheritedDescriptors();
 * if (typeof found === "string") console.log(`cannot tell: ${found}`);
 * else console.log(`inherited: ${found.join(", ") || "none"}`);
 * ```
 */
export function inheritedDescriptors(): number[] | string {
  let names: string[];
  try {
    names = [...Deno.readDirSync("/proc/self/fd")].map((entry) => entry.name);
  } catch (error) {
    return `cannot list /proc/self/fd: ${error instanceof Error ? error.message : error}`;
  }
  const inherited: number[] = [];
  for (const name of names) {
    const fd = Number(name);
    if (!(fd > 2)) continue;
    let info: string;
    try {
      info = Deno.readTextFileSync(`/proc/self/fdinfo/${fd}`);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue; // closed since (the listing's own)
      return `cannot read /proc/self/fdinfo/${fd}: ${
        error instanceof Error ? error.message : error
      }`;
    }
    const flags = /^flags:\s*([0-7]+)$/m.exec(info)?.[1];
    if (flags === undefined) return `/proc/self/fdinfo/${fd} shows no flags`;
    if ((parseInt(flags, 8) & O_CLOEXEC) === 0) inherited.push(fd);
  }
  return inherited.sort((a, b) => a - b);
}
