/**
 * Review 132: a plugin within every cap of its own whose costs to the host add up over many
 * plugins, by mode of `probe.attempt`: an answer of `<KiB>` KiB, one line longer than the host
 * scans on its main thread, after which the plugin only waits (`long-answer:<KiB>`).
 * @module
 */

import { answer, serveProbe } from "./_raw.ts";

await serveProbe((mode, id) => {
  const [what, arg] = mode.split(":");
  if (what === "long-answer") answer(id, "x".repeat(Number(arg) * 1024));
  else answer(id, "unknown mode");
  return Promise.resolve();
});
