// Review 166: an honest Deno plugin granted net that speaks a protocol ending its request by
// half-closing its connection. "halfclose <host:port> <bytes>": sends that many bytes (a pattern
// of the offset), ends its writing (`closeWrite`, shutdown(SHUT_WR)) and reads the answer to its
// end. "stream <host:port> <bytes>": sends and reads at once, reading slowly, for a target that
// echoes as it reads. Answers "<mode>: sent <n>, got <m>, <ok|corrupt at k>".
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

/** The byte at `offset` of what is sent. */
const byteAt = (offset: number) => (offset * 7 + (offset >> 13)) & 0xff;

async function receive(conn: Deno.Conn, slow: boolean): Promise<{ got: number; bad: number }> {
  const buffer = new Uint8Array(slow ? 1500 : 64 * 1024);
  let got = 0;
  let bad = -1;
  for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
    for (let i = 0; i < n && bad < 0; i++) if (buffer[i] !== byteAt(got + i)) bad = got + i;
    got += n;
    if (slow && got % 64 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
  }
  return { got, bad };
}

async function attempt(what = ""): Promise<string> {
  const [mode, target, size] = what.split(" ");
  const [hostname, port] = [target.slice(0, target.lastIndexOf(":")), target.split(":").at(-1)];
  const total = Number(size);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  try {
    const receiving = receive(conn, mode === "stream");
    const chunk = new Uint8Array(48 * 1024);
    for (let sent = 0; sent < total;) {
      const length = Math.min(chunk.length, total - sent);
      for (let i = 0; i < length; i++) chunk[i] = byteAt(sent + i);
      for (let at = 0; at < length;) at += await conn.write(chunk.subarray(at, length));
      sent += length;
    }
    await conn.closeWrite();
    const { got, bad } = await receiving;
    return `${mode}: sent ${total}, got ${got}, ${bad < 0 ? "ok" : `corrupt at ${bad}`}`;
  } catch (error) {
    return `${mode}: ${(error as Error).name}: ${(error as Error).message}`;
  } finally {
    try {
      conn.close();
    } catch {
      // closed
    }
  }
}

serve(implement(Probe, { attempt }));
