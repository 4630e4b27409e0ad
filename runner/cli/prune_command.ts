/**
 * `plug prune [--unused-days=N] [--max-mb=N]`: removes the cache's
 * snapshots no plugin in any host process uses (`pruneCache`).
 * @module
 */

import { UsageError } from "./args.ts";
import type { ParsedArgs } from "./args.ts";
import { ExitCode, outJson, type Output } from "./commands.ts";
import { pruneCache } from "../sandbox/mod.ts";

const DAY_MS = 24 * 60 * 60 * 1000;
const MiB = 1024 * 1024;

/** `plug prune`: what was removed and kept, in one line (or JSON). */
export async function pruneCommand(args: ParsedArgs, io: Output): Promise<number> {
  if (args.positional.length > 0) {
    throw new UsageError(
      `plug prune takes no arguments, got ${JSON.stringify(args.positional[0])}`,
    );
  }
  const result = await pruneCache({
    ...(args.unusedDays === undefined ? {} : { unusedForMs: args.unusedDays * DAY_MS }),
    ...(args.maxMiB === undefined ? {} : { maxBytes: args.maxMiB * MiB }),
  });
  if (args.json) {
    outJson(io, result);
    return ExitCode.ok;
  }
  const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;
  io.out(
    `removed ${result.removed} snapshots (${mib(result.removedBytes)}); kept ${result.kept} ` +
      `(${mib(result.keptBytes)}), ${result.inUse} of them in use`,
  );
  return ExitCode.ok;
}
