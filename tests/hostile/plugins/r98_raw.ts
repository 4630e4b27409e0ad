/**
 * Review 98: a plugin that attacks the host's reading of its stderr, by mode
 * of `probe.attempt`, for `<ms>` each: one line that never ends, written a
 * MiB a write as fast as the pipe takes it (`stderr-endless:<ms>`); one byte
 * a write (`stderr-drip:<ms>`). Its answer says how many bytes it wrote.
 * @module
 */

import { answer, serveProbe } from "./_raw.ts";

const encoder = new TextEncoder();

await serveProbe((mode, id) => {
  const [what, ms] = mode.split(":");
  const piece = encoder.encode("x".repeat(what === "stderr-drip" ? 1 : 1024 * 1024));
  if (what !== "stderr-endless" && what !== "stderr-drip") {
    answer(id, "unknown mode");
    return Promise.resolve();
  }
  const batch = piece.length === 1 ? 64 : 1; // writes between looks at the clock
  const until = Date.now() + Number(ms);
  let written = 0;
  while (Date.now() < until) {
    for (let i = 0; i < batch; i++) {
      for (let at = 0; at < piece.length;) at += Deno.stderr.writeSync(piece.subarray(at));
    }
    written += batch * piece.length;
  }
  answer(id, `flooded: ${written} bytes`);
  return Promise.resolve();
});
