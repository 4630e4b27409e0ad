// T25: TLS to a granted name, end to end, through the egress proxy: a raw
// TLS connection (Deno.connectTls) and fetch over https. The test passes
// its own certificate authority in the attempt, so the plugin needs no file.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

async function attack(what = ""): Promise<string> {
  const { kind, host, port, ca } = JSON.parse(what) as {
    kind: "connectTls" | "fetch";
    host: string;
    port: number;
    ca: string;
  };
  try {
    if (kind === "fetch") {
      using client = Deno.createHttpClient({ caCerts: [ca] });
      const response = await fetch(`https://${host}:${port}/`, { client });
      return `fetched: ${await response.text()}`;
    }
    const conn = await Deno.connectTls({ hostname: host, port, caCerts: [ca] });
    await conn.write(new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n"));
    const buffer = new Uint8Array(1024);
    const n = await conn.read(buffer);
    conn.close();
    return `connected: ${
      new TextDecoder().decode(buffer.subarray(0, n ?? 0)).split("\r\n\r\n")[1]
    }`;
  } catch (error) {
    return `refused: ${(error as Error).name}: ${(error as Error).message.split("\n")[0]}`;
  }
}

await serve(implement(Probe, { attempt: attack }));
