/**
 * `plug approve <module> [grants] [--lock=PATH]`: records the plugin as it
 * is now, with these grants, in the lock, after showing what changed since
 * its last approval.
 * @module
 */

import type { ParsedArgs } from "./args.ts";
import { ExitCode, launchOptions, onlyModule, outJson, type Output } from "./commands.ts";
import { approvePlugin, describeDifferences } from "../sandbox/mod.ts";

/** `plug approve`: prints the difference, then the lock holds the new entry. */
export async function approveCommand(args: ParsedArgs, io: Output): Promise<number> {
  const module = onlyModule(args, "approve");
  const { lock: _, ...launch } = launchOptions(args);
  const approval = await approvePlugin(module, {
    ...launch,
    lock: { path: args.lock ?? "plugbox.lock" },
    dryRun: args.dryRun,
    expectHash: args.expect,
  });
  const { previous, next } = approval;
  if (args.json) {
    // A tampered entry's values are whoever changed it (a pull request's lock, up to 4 MB):
    // `previousTampered` says so, and they are not echoed.
    outJson(io, approval.previousTampered ? { ...approval, previous: undefined } : approval);
    return ExitCode.ok;
  }
  // Whole: whoever writes both the folder inspected and the folder approved finds two whose
  // hashes share 12 digits in about 2^24 tries, as review 94 found of --expect; shown 12 digits,
  // the approval matched the hash inspect had shown, and sealed the other folder (review 123).
  const hash = (h: string) => h;
  const content = !previous
    ? `new: ${hash(next.hash)}`
    : approval.contentChanged
    ? `changed: ${hash(previous.hash)} -> ${hash(next.hash)}`
    : `unchanged: ${hash(next.hash)}`;
  const lines = [
    `${args.dryRun ? "would approve" : "approved"} "${approval.plugin}" in ${approval.lockPath}`,
    `  content  ${content}`,
    `  added    ${describeDifferences(approval.added) || "nothing"}`,
    `  removed  ${describeDifferences(approval.removed) || "nothing"}`,
  ];
  if (approval.previousTampered) {
    lines.push("  note: the previous entry had been changed outside plug approve; it is replaced");
  }
  for (const line of lines) io.out(line);
  return ExitCode.ok;
}
