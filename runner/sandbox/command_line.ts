/**
 * What the kernel passes to a program it starts, and how plugbox keeps a
 * start within it. `execve` refuses one argument or variable of more than
 * 128 KiB, and arguments and environment together past a quarter of the
 * stack limit (at most 6 MiB): "Argument list too long", which named no
 * grant (3,000 net grants failed so). Long grant lists are cut into
 * several flags (Deno adds them up), the helpers' JSON specs into pieces
 * they join, and what still does not fit is refused before the spawn,
 * naming the grants that fill it.
 * @module
 */

import { utf8Length } from "../wire/mod.ts";

/** The longest argument or variable `execve` takes, with its NUL (MAX_ARG_STRLEN). */
export const MAX_STRING_BYTES = 32 * 4096;

/**
 * A piece of a long argument, in UTF-16 units: at most 3 bytes each in
 * UTF-8 (a pair 4 for 2), so 96 KiB, within {@linkcode MAX_STRING_BYTES}.
 */
const PIECE_UNITS = 32 * 1024;

/**
 * `text` in pieces that each fit one argument, never splitting a surrogate
 * pair; joined, they are `text`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pieces } from "./command_line.ts";
 * const long = "x".repeat(100_000);
 * assert.equal(pieces(long).join(""), long);
 * assert.deepEqual(pieces("short"), ["short"]);
 * ```
 */
export function pieces(text: string, units = PIECE_UNITS): string[] {
  const out: string[] = [];
  for (let at = 0; at < text.length || out.length === 0;) {
    let end = Math.min(text.length, at + units);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--; // a high surrogate
    out.push(text.slice(at, end));
    at = end;
  }
  return out;
}

/**
 * A helper script's JSON spec as arguments: how many pieces, then the
 * pieces (the launcher's program and its arguments follow them).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { specArgs } from "./command_line.ts";
 * assert.deepEqual(specArgs({ mode: "probe" }), ["1", '{"mode":"probe"}']);
 * ```
 */
export function specArgs(spec: unknown): string[] {
  const parts = pieces(JSON.stringify(spec));
  return [String(parts.length), ...parts];
}

/**
 * `--allow-<kind>=a,b,…` as one flag or several, each within one
 * argument's limit: Deno grants what they list together.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { allowFlags } from "./command_line.ts";
 * assert.deepEqual(allowFlags("read", ["/a", "/b"]), ["--allow-read=/a,/b"]);
 * assert.equal(allowFlags("read", Array(40_000).fill("/data/x")).length, 10);
 * ```
 */
export function allowFlags(kind: string, values: readonly string[], units = PIECE_UNITS): string[] {
  const flags: string[] = [];
  const prefix = `--allow-${kind}=`;
  let batch: string[] = [];
  let length = prefix.length;
  for (const value of values) {
    // One value longer than a flag holds goes alone; the check below names it if it is too long.
    if (batch.length > 0 && length + value.length + 1 > units) {
      flags.push(prefix + batch.join(","));
      batch = [];
      length = prefix.length;
    }
    batch.push(value);
    length += value.length + 1;
  }
  if (batch.length > 0) flags.push(prefix + batch.join(","));
  return flags;
}

/**
 * The most bytes of arguments and environment `execve` takes here: a
 * quarter of the stack limit this process passes on, at most 6 MiB. When
 * the limit cannot be read, the most it could be (the kernel still judges).
 */
export function argumentBudget(limits = "/proc/self/limits"): number {
  const most = 6 * 1024 * 1024;
  try {
    const line = /^Max stack size\s+(\S+)/m.exec(Deno.readTextFileSync(limits));
    const soft = line && /^\d+$/.test(line[1]) ? Number(line[1]) : Infinity;
    return Math.max(MAX_STRING_BYTES, Math.min(most, Math.floor(soft / 4)));
  } catch {
    return most;
  }
}

/** Where the bytes of a start's command line come from, for its refusal. */
export interface LineSources {
  /** Per grant kind (`read`, `net`, `env`, …), its entries. */
  grants: Record<string, readonly string[]>;
}

/**
 * Refuses a spawn the kernel would refuse: an argument or variable past
 * 128 KiB, or all of them past the budget. The message names the grant
 * lists that take the most, so a user knows what to narrow.
 *
 * @throws {TypeError} naming the size, the limit and the largest grant lists.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkCommandLine } from "./command_line.ts";
 * checkCommandLine(["deno", "run", "main.ts"], { HOME: "/home/p" }, { grants: {} });
 * assert.throws(
 *   () => checkCommandLine(["deno", "x".repeat(200_000)], {}, { grants: {} }),
 *   TypeError,
 * );
 * ```
 */
export function checkCommandLine(
  argv: readonly string[],
  env: Readonly<Record<string, string>>,
  sources: LineSources,
  budget = argumentBudget(),
): void {
  let total = 0;
  let count = 0;
  const one = (bytes: number, what: () => string) => {
    if (bytes + 1 > MAX_STRING_BYTES) {
      throw new TypeError(
        `Cannot start plugin: ${what()} is ${bytes} bytes, and the kernel passes at most ${
          MAX_STRING_BYTES - 1
        } in one argument or variable`,
      );
    }
    total += bytes + 1;
    count++;
  };
  for (const arg of argv) one(utf8Length(arg), () => `an argument of its command line`);
  for (const [name, value] of Object.entries(env)) {
    one(
      utf8Length(name) + 1 + utf8Length(value),
      () => `the variable ${JSON.stringify(name.slice(0, 64))}`,
    );
  }
  total += 8 * (count + 2); // the pointers to them
  if (total <= budget) return;
  const largest = Object.entries(sources.grants)
    .map(([kind, values]) => ({
      kind,
      count: values.length,
      bytes: values.reduce((n, v) => n + utf8Length(v) + 1, 0),
    }))
    .filter((g) => g.count > 0)
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, 3)
    .map((g) => `permissions.${g.kind} lists ${g.count} entries (${g.bytes} bytes)`);
  throw new TypeError(
    `Cannot start plugin: its command line and environment come to ${total} bytes, and the kernel passes at most ${budget} to a program here (a quarter of the stack limit)${
      largest.length ? `: ${largest.join(", ")}` : ""
    }; grant fewer, broader entries (a folder rather than its files)`,
  );
}

/** The most arguments bubblewrap takes (its `MAX_ARGS`), its program's included. */
export const BWRAP_MAX_ARGS = 9000;

/**
 * The most paths the OS layer mounts for one sandbox. bubblewrap reads the
 * mount table again after each mount, so its time grows with the square of
 * their number: 500 took 0.65 s here, 1,000 2.6 s, 2,000 12.9 s (twice a
 * start: the graph check's sandbox and the plugin's), past the start's
 * deadline with no word of why.
 */
export const MAX_MOUNTS = 1024;

/**
 * What a mount's line in the mount table holds besides its path (ids,
 * device, options, file system, source). bubblewrap reads the whole table
 * after each mount, so its time grows with their number times the table's
 * bytes: 990 paths of 231 bytes took 4.2 s here, 360 of 825 bytes 1.6 s,
 * 1,024 of 21 bytes 1.7 s (about 15 ns a mount and byte).
 */
const MOUNT_LINE_BYTES = 64;

/**
 * The most work bubblewrap's mounts may take, in mounts times bytes: what
 * {@linkcode MAX_MOUNTS} paths of 96 bytes take (about 2.4 s here). Under the
 * count alone, 990 paths of 231 bytes passed and the start timed out with no
 * word of why (review 167).
 */
export const MAX_MOUNT_WORK = MAX_MOUNTS * MAX_MOUNTS * (96 + MOUNT_LINE_BYTES);

/**
 * What of bubblewrap's arguments its program may take: the launcher's spec
 * and the plugin's own flags, in pieces of 96 KiB within the kernel's 6 MiB
 * at most (so fewer than 70), Deno's other flags (about 15).
 */
const PROGRAM_ARGS = 200;

/**
 * Refuses a sandbox bubblewrap would refuse ("Exceeded maximum number of
 * arguments") or take seconds to build: each path the plugin may reach is
 * a mount of three arguments.
 *
 * @throws {TypeError} naming the mounts and what to grant instead.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkSandboxArgs } from "./command_line.ts";
 * checkSandboxArgs(["--unshare-all", "--ro-bind", "/data", "/data"]);
 * assert.throws(() => checkSandboxArgs(Array(2_000).fill("--ro-bind")), TypeError);
 * ```
 */
export function checkSandboxArgs(args: readonly string[]): void {
  let mounts = 0;
  let bytes = 0;
  for (let i = 0; i < args.length; i++) {
    if (args[i] !== "--ro-bind" && args[i] !== "--bind") continue;
    mounts++;
    bytes += utf8Length(args[i + 2] ?? "") + MOUNT_LINE_BYTES;
  }
  if (mounts > MAX_MOUNTS) {
    throw new TypeError(
      `Cannot start plugin under the OS layer: its sandbox would mount ${mounts} paths, and the layer mounts at most ${MAX_MOUNTS} (bubblewrap's time grows with the square of their number); grant fewer, broader paths (a folder rather than its files)`,
    );
  }
  if (mounts * bytes > MAX_MOUNT_WORK) {
    throw new TypeError(
      `Cannot start plugin under the OS layer: its sandbox would mount ${mounts} paths of ${
        bytes - mounts * MOUNT_LINE_BYTES
      } bytes together, and bubblewrap's time grows with their number times their length: the layer mounts at most ${MAX_MOUNTS} paths of 96 bytes, or fewer longer ones; grant fewer, broader paths (a folder rather than its files)`,
    );
  }
  if (args.length + PROGRAM_ARGS <= BWRAP_MAX_ARGS) return;
  throw new TypeError(
    `Cannot start plugin under the OS layer: its sandbox takes ${args.length} arguments to bubblewrap, which takes at most ${BWRAP_MAX_ARGS} (its program's ${PROGRAM_ARGS} included): grant fewer paths or variables`,
  );
}
