// Protocol faults from an untrusted plugin: survivable ones are reported and
// ignored, fatal ones kill the plugin, and nothing a plugin writes can make
// the host throw, hang or grow without bound.
import assert from "node:assert/strict";
import { ProtocolError, startPlugin } from "../../mod.ts";
import { Peer } from "../../runner/wire/peer.ts";
import { LineTransport } from "../../runner/wire/transport.ts";
import { classifyScanned } from "../../runner/wire/envelope.ts";
import { scanJson } from "../../runner/wire/json_scan.ts";
import { concatBytes } from "../../runner/wire/bytes.ts";
import { Life } from "../fixtures/contracts.ts";
import { fixture, rejected, testDeadline, until, within } from "../_helpers.ts";

Deno.test("stray output, unknown and duplicate ids are reported and ignored, the call still succeeds", async () => {
  const faults: string[] = [];
  await using plugin = await startPlugin(fixture("noisy_stdout.ts"), {
    contracts: [Life],
    onProtocolFault: (detail) => faults.push(detail),
  });
  assert.equal(await plugin.api(Life).echo(42), 42);
  assert.equal(await plugin.api(Life).echo(43), 43);
  assert.deepEqual(faults.slice(0, 4), [
    "stray output on stdout: this is not JSON",
    "response to unknown or already answered id 987654",
    "response to unknown or already answered id 987654",
    'invalid message: member "jsonrpc" is not "2.0"',
  ]);
});

Deno.test("an onProtocolFault or onLog that throws is the listener's own fault: the plugin lives on, its logs keep coming", async () => {
  // Before: a throwing onProtocolFault turned a survivable fault into a fatal ProtocolError, and
  // a throwing onLog stopped stderr's reading for good (review 59).
  let faults = 0;
  await using plugin = await startPlugin(fixture("noisy_stdout.ts"), {
    contracts: [Life],
    onProtocolFault: () => {
      faults++;
      throw new Error("a listener's bug");
    },
  });
  assert.equal(await plugin.api(Life).echo(42), 42);
  assert.equal(await plugin.api(Life).echo(43), 43);
  assert.ok(faults >= 4, `${faults} faults`);
  let logs = 0;
  await using logger = await startPlugin(fixture("lifecycle.ts"), {
    contracts: [Life],
    onLog: () => {
      logs++;
      throw new Error("a log listener's bug");
    },
  });
  for (let i = 0; i < 3; i++) await logger.api(Life).logSomething();
  await until(() => logs >= 15, 10_000, "every log line, past the listener's throws");
});

for (const how of ["throws", "rejects"] as const) {
  Deno.test(`an onUnresponsive that ${how} ends the plugin itself, and the host lives on`, async () => {
    // Before: its throw or rejection was uncaught (the host died), and the plugin ran on (review 61).
    let told = 0;
    await using plugin = await startPlugin(fixture("lifecycle.ts"), {
      contracts: [Life],
      cancelGraceMs: 100,
      onUnresponsive: () => {
        told++;
        if (how === "throws") throw new Error("a listener's bug");
        return Promise.reject(new Error("an async listener's bug")) as unknown as void;
      },
    });
    await rejected(plugin.api(Life, { timeout: 100 }).spin());
    const status = await within(plugin.exited, 10_000, "the plugin's end");
    assert.equal(told, 1);
    assert.equal(status.signal, "SIGKILL");
  });
}

Deno.test("a request flood from a plugin that never reads is killed as faulty, and host memory stays bounded", async () => {
  const before = Deno.memoryUsage().rss;
  const faults: string[] = [];
  await using plugin = await startPlugin(fixture("request_flood.ts"), {
    contracts: [Life],
    isolation: "deno",
    onProtocolFault: (detail) => faults.push(detail),
  });
  // The plugin never reads its stdin, so this call cannot be answered; meanwhile it floods.
  const error = await rejected<ProtocolError>(plugin.api(Life, { timeout: 10_000 }).echo(1));
  assert.ok(error instanceof ProtocolError, String(error));
  assert.match(error.message, /it is faulty: more than 100 protocol faults within 10000 ms/);
  assert.match(faults[0], /request "host\.anything" to the host, which serves no methods/);
  assert.equal(faults.length, 101);
  assert.equal((await plugin.exited).reason, "killed");
  const grown = Deno.memoryUsage().rss - before;
  assert.ok(grown < 128 * 1024 * 1024, `host memory grew by ${grown} bytes under the flood`);
});

Deno.test("200 calls made at once are coalesced on the pipe and all arrive intact", async () => {
  await using plugin = await startPlugin(fixture("lifecycle.ts"), { contracts: [Life] });
  const api = plugin.api(Life);
  const results = await Promise.all(Array.from({ length: 200 }, (_, i) => api.echo(i)));
  assert.deepEqual(results, Array.from({ length: 200 }, (_, i) => i));
});

/** A tiny deterministic random source, so a failing fuzz run can be replayed. */
function rng(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}

function fuzzChunks(random: () => number): Uint8Array[] {
  const encoder = new TextEncoder();
  const pieces: string[] = [];
  for (let i = 0; i < 400; i++) {
    switch (Math.floor(random() * 8)) {
      case 0:
        pieces.push(
          String.fromCharCode(...Array.from({ length: 64 }, () => Math.floor(random() * 256))),
        );
        break;
      case 1:
        pieces.push('{"jsonrpc":"2.0","id":' + Math.floor(random() * 10) + ',"resu'); // truncated
        break;
      case 2:
        pieces.push(`{"jsonrpc":"2.0","id":1e308,"result":${"9".repeat(400)}}\n`);
        break;
      case 3:
        pieces.push("[".repeat(100_000) + "]".repeat(100_000) + "\n"); // deep nesting
        break;
      case 4:
        pieces.push(
          `{"jsonrpc":"2.0","id":${Math.floor(random() * 5)},"error":{"code":"x","message":7}}\n`,
        );
        break;
      case 5:
        pieces.push(`{"jsonrpc":"2.0","method":"$/cancel","params":{"id":{"a":[1]}}}\n`);
        break;
      case 6:
        pieces.push(
          `{"jsonrpc":"2.0","id":${i},"method":"x","params":${"[".repeat(500)}${
            "]".repeat(500)
          }}\n`,
        );
        break;
      default:
        pieces.push("\n\r\n\x00\xff\n");
    }
  }
  const bytes = encoder.encode(pieces.join(""));
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < bytes.length;) {
    const size = 1 + Math.floor(random() * 70_000);
    chunks.push(bytes.subarray(at, at + size));
    at += size;
  }
  return chunks;
}

for (const mode of ["parse", "scan"] as const) {
  Deno.test(`fuzz [${mode}]: random bytes, truncated JSON, huge numbers and deep nesting never escape the line reader and peer`, async () => {
    // Thousands of random inputs: some 10 s on a quiet machine.
    testDeadline(120_000);
    for (let seed = 1; seed <= 20; seed++) {
      const random = rng(seed);
      const chunks = fuzzChunks(random);
      const input = new ReadableStream<Uint8Array>({
        pull(controller) {
          const next = chunks.shift();
          if (next) controller.enqueue(next);
          else controller.close();
        },
      });
      const limits = { maxDepth: 64, maxMembers: 10_000 };
      const transport = new LineTransport(input, new WritableStream(), {
        maxLineBytes: 1024 * 1024,
        scan: mode === "scan"
          ? {
            limits,
            offload: () => {
              const parts: Uint8Array[] = [];
              return {
                append: (part: Uint8Array) => void parts.push(part),
                finish: () => {
                  let bytes = concatBytes(parts);
                  if (bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, -1);
                  return Promise.resolve({ bytes, scan: scanJson(bytes, limits) });
                },
              };
            },
          }
          : undefined,
      });
      let violations = 0;
      const peer = new Peer((m) => transport.send(m), {
        onViolation: () => violations++,
        maxInboundRequests: 4,
      });
      const pending = peer.request("outstanding", []).catch((e) => e);
      let stray = 0;
      await transport.run({
        onMessage: (v) => peer.receive(v),
        onScanned: (bytes, scan) => peer.accept(classifyScanned(bytes, scan)),
        onStray: () => stray++,
      })
        .catch((error) => assert.ok(error instanceof RangeError, `seed ${seed}: ${error}`));
      peer.close(new Error("done"));
      await pending;
      assert.ok(violations + stray > 0, `seed ${seed} produced faults`);
    }
    const memory = Deno.memoryUsage();
    assert.ok(memory.heapUsed < 512 * 1024 * 1024, `heap ${memory.heapUsed}`);
  });
}
