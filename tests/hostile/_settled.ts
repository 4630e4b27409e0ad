/**
 * Waits until `folders` are past the PATH cache's racy window: an answer read sooner after their
 * last change is not kept (review 119), and a test of what the kept answer watches needs it kept.
 * @module
 */

import { RACY_MS } from "../../runner/sandbox/path_programs.ts";

/** Resolves once every one of `folders` last changed more than the racy window ago. */
export async function settled(...folders: string[]): Promise<void> {
  const changed = folders.map((folder) => Deno.statSync(folder).ctime!.getTime());
  const after = Math.max(...changed) + RACY_MS + 50;
  while (Date.now() < after) {
    await new Promise((done) => setTimeout(done, after - Date.now()));
  }
}
