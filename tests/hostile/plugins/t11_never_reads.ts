// T11: answers the handshake, then never reads its input again and stays
// alive: whatever the host sends it waits in the host.
import { serveProbe } from "./_raw.ts";

await serveProbe(async () => {
  await new Promise(() => setInterval(() => {}, 60_000));
});
