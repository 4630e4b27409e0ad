// Review 166: the egress relay's and proxy's copying. A plugin's connection through the OS and
// Landlock layers passes the egress proxy on the host, which copied each direction with a stream's
// pipe: the end of one direction closed the whole connection, so a plugin that ended its request by
// half-closing (`closeWrite()`, shutdown(SHUT_WR): a protocol whose request ends at the end of
// its bytes) got no answer at all, and its target's write failed with EPIPE; under the Deno layer,
// which reaches the target itself, the same plugin got its answer. The proxy now passes an end on
// as the end of writing only, as the relay (review 163) does. The relay's fixed buffers carry
// large transfers both ways at once to a slow reader, byte for byte.
import assert from "node:assert/strict";
import { startPlugin } from "../../mod.ts";
import { testDeadline, within } from "../_helpers.ts";
import { hostile } from "./_hostile.ts";
import { Probe } from "./plugins/probe.ts";

const PLUGIN = hostile("r166_half_close.ts");
const MIB = 1024 * 1024;

/**
 * A target on 127.0.0.1: `answer` reads a request to its end and then writes it all back,
 * `echo` writes back as it reads; each ends its writing at the end and records how it went.
 */
function target(kind: "answer" | "echo") {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const ended: string[] = [];
  const serve = async (conn: Deno.Conn) => {
    const held: Uint8Array[] = [];
    const buffer = new Uint8Array(64 * 1024);
    const send = async (bytes: Uint8Array) => {
      for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
    };
    try {
      let read = 0;
      for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
        read += n;
        if (kind === "echo") await send(buffer.subarray(0, n));
        else held.push(buffer.slice(0, n));
      }
      for (const bytes of held) await send(bytes);
      await conn.closeWrite();
      ended.push(`read ${read}, answered`);
    } catch (error) {
      ended.push(`${(error as Error).name}`);
    } finally {
      conn.close();
    }
  };
  const serving = (async () => {
    for await (const conn of listener) void serve(conn);
  })().catch(() => {});
  return {
    target: `127.0.0.1:${listener.addr.port}`,
    ended,
    async [Symbol.asyncDispose]() {
      listener.close();
      await serving;
    },
  };
}

/** The plugin under `isolation`, granted net to `target`. */
function start(isolation: "deno" | "os", target: string) {
  return startPlugin(PLUGIN, {
    contracts: [Probe],
    isolation,
    permissions: { net: [target] },
    unsafe: { privateNetwork: true },
  });
}

for (const isolation of ["deno", "os"] as const) {
  Deno.test(`r166 [${isolation}]: a plugin granted net that half-closes after its request gets the whole answer, and its target writes it without EPIPE`, async () => {
    testDeadline(60_000);
    await using served = target("answer");
    await using plugin = await start(isolation, served.target);
    const probe = plugin.api(Probe);
    for (const size of [5, 3 * MIB + 7]) {
      const said = await within(
        probe.attempt(`halfclose ${served.target} ${size}`),
        30_000,
        `the answer of ${size} bytes`,
      );
      assert.equal(said, `halfclose: sent ${size}, got ${size}, ok`, served.ended.join("; "));
    }
    assert.deepEqual(served.ended, [
      `read 5, answered`,
      `read ${3 * MIB + 7}, answered`,
    ]);
  });
}

Deno.test("r166 [os]: the relay and the proxy carry 24 MiB each way at once to a plugin that reads slowly, byte for byte, and the end after", async () => {
  testDeadline(90_000);
  await using served = target("echo");
  await using plugin = await start("os", served.target);
  const size = 24 * MIB + 3;
  const said = await within(
    plugin.api(Probe).attempt(`stream ${served.target} ${size}`),
    60_000,
    "the echo",
  );
  assert.equal(said, `stream: sent ${size}, got ${size}, ok`, served.ended.join("; "));
  assert.deepEqual(served.ended, [`read ${size}, answered`]);
});

/** The egress relay's process in the plugin's sandbox: the Deno process its memory cgroup holds. */
function relayOf(memoryDir: string): number {
  const pids = Deno.readTextFileSync(`${memoryDir}/cgroup.procs`).split("\n").filter(Boolean);
  const relays = pids.filter((pid) => {
    const argv = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0");
    return argv[0] === Deno.execPath() && argv.some((arg) => arg.startsWith("--allow-net="));
  });
  assert.equal(relays.length, 1, `one relay among ${pids.join(", ")}`);
  return Number(relays[0]);
}

Deno.test("r166 [os]: the egress relay takes no V8 worker threads from the plugin's task cap", async () => {
  testDeadline(60_000);
  await using served = target("answer");
  await using plugin = await start("os", served.target);
  const { memoryDir, pidsDir } = plugin.plan.cpu.cgroup ?? {};
  assert.ok(memoryDir && pidsDir, "a root host puts the sandbox in memory and pids cgroups");
  const relay = relayOf(memoryDir);
  // Its threads are the sandbox's tasks, which its pids cgroup counts against the plugin's cap.
  const tasks = Deno.readTextFileSync(`${pidsDir}/tasks`).split("\n").filter(Boolean);
  const threads = [...Deno.readDirSync(`/proc/${relay}/task`)].map((entry) => entry.name);
  assert.ok(threads.every((thread) => tasks.includes(thread)), "the relay's threads are counted");
  const names = threads.map((thread) =>
    Deno.readTextFileSync(`/proc/${relay}/task/${thread}/comm`).trim()
  );
  assert.deepEqual(names.filter((name) => name.startsWith("V8 ")), [], names.join(", "));
  // And it carries as before.
  assert.equal(
    await plugin.api(Probe).attempt(`halfclose ${served.target} 100000`),
    "halfclose: sent 100000, got 100000, ok",
  );
});
