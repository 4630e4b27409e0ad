// T11: never reads again, and floods invalid messages that carry an id, each
// of which the host answers: answers pile up in the host, or the host stops
// the plugin.
import { serveProbe, writeLine } from "./_raw.ts";

await serveProbe(() => {
  const junk = "x".repeat(200);
  for (let n = 1;; n++) writeLine(`{"jsonrpc":"1.0","id":${n},"junk":"${junk}"}`);
});
