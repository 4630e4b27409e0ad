/**
 * The link attacks of reviews 86, 93 and 96: `plugins/r86_moves.ts` started
 * under the Deno layer, given folders to write that hold links it could not
 * have made, runs its steps and says what it read (or the error the start
 * failed with).
 * @module
 */

import { startPlugin } from "../../mod.ts";
import { Probe } from "./plugins/probe.ts";
import { hostile } from "./_hostile.ts";

/**
 * Starts r86_moves.ts with `write` (read and write) and `read` (read only),
 * and its own `cacheDir` when given, and runs `spec`: the attempt's answer,
 * or the start's error.
 */
export function movesAndRead(
  write: string[],
  read: string[],
  spec: string,
  cacheDir?: string,
): Promise<unknown> {
  return startPlugin(hostile("r86_moves.ts"), {
    contracts: [Probe],
    isolation: "deno",
    permissions: { read: [...write, ...read], write },
    unsafe: { writeAsRoot: true },
    ...(cacheDir ? { cacheDir } : {}),
  }).then(async (plugin) => {
    await using _ = plugin;
    return await plugin.api(Probe).attempt(spec);
  }, (error) => error);
}
