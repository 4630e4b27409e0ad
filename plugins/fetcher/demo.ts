/**
 * `deno task example:fetcher`: a local "quote of the day" service on
 * 127.0.0.1, a fetcher granted exactly that host:port, and a second service
 * it is not allowed to reach.
 * @module
 */

import { PermissionDeniedError, startPlugin } from "@plugbox/plugbox";
import { Fetcher } from "./contract.ts";

const quote = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  () =>
    new Response("Simple is better than complex.", { headers: { "content-type": "text/plain" } }),
);
const secret = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  () => new Response("internal admin"),
);
try {
  const allowed = `127.0.0.1:${quote.addr.port}`;
  await using plugin = await startPlugin(new URL("./main.ts", import.meta.url), {
    contracts: [Fetcher],
    permissions: { net: [allowed] },
    // Loopback is the host's own machine: plugbox asks for this to be said out loud.
    unsafe: { privateNetwork: true },
  });
  const fetcher = plugin.api(Fetcher);
  const got = await fetcher.fetchText(`http://${allowed}/`);
  console.log(`${got.status} ${got.contentType}: ${got.body}`);
  try {
    await fetcher.fetchText(`http://127.0.0.1:${secret.addr.port}/`);
  } catch (error) {
    if (!(error instanceof PermissionDeniedError)) throw error;
    console.log(`denied, as it should be: ${error.permission} "${error.target}"`);
  }
} finally {
  await quote.shutdown();
  await secret.shutdown();
}
