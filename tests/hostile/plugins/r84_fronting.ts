// Review 84: a plugin granted one name asks the egress proxy for it in plain http, but names
// another host in its request (a client that lets it set Host), as domain fronting does: on a
// shared address, the server answers for the other name.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

await serve(implement(Probe, {
  attempt: async (what = "") => {
    const [url, host] = what.split(" ");
    const client = Deno.createHttpClient({ allowHost: true });
    try {
      const response = await fetch(url, { client, headers: { host } });
      return `fetched: ${await response.text()}`;
    } catch (error) {
      return `refused: ${(error as Error).message}`;
    } finally {
      client.close();
    }
  },
}));
