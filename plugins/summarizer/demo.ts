/**
 * `deno task example:summarizer [folder]`: summarise a folder's text files
 * with read access to that folder only (default: this repository's docs).
 * @module
 */

import { PermissionDeniedError, startPlugin } from "@plugbox/plugbox";
import { Summarizer } from "./contract.ts";

const folder = Deno.args[0] ?? new URL("../..", import.meta.url).pathname;
await using plugin = await startPlugin(new URL("./main.ts", import.meta.url), {
  contracts: [Summarizer],
  permissions: { read: [folder] },
});
const summarizer = plugin.api(Summarizer);
for (const s of await summarizer.summarize(folder)) {
  console.log(
    `${s.file.padEnd(16)} ${String(s.lines).padStart(5)} lines ${
      String(s.words).padStart(6)
    } words  ${s.first}`,
  );
}
try {
  await summarizer.summarize("/etc");
} catch (error) {
  if (!(error instanceof PermissionDeniedError)) throw error;
  console.log(`denied, as it should be: ${error.permission} "${error.target}"`);
}
