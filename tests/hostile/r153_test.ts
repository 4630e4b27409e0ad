// Review 153: attacks on review 146's answer pacing and review 152's unsafe.lockQueries.
//
// A typed call's answer is checked against the contract inside the answer's reading, where review
// 146 measures it, only on the call's quick path: a call with a signal, onSent or onSettled, a
// channel, or an audit checks it a turn later, outside the measure. A union of eight objects over
// 200,000 items costs the host's thread 0.15 to 0.25 s to check and 15 to 25 ms to parse: five such
// answers to calls with a signal were never paced (their check charged to nothing). And a call
// with onProgress (or resetTimeoutOnProgress) was never checked at all: a 16 MiB string reached
// the caller of a method whose contract says number. Each test failed on the code it was written
// against (ab1fda4).
import assert from "node:assert/strict";
import { join } from "node:path";
import { z } from "zod";
import { defineContract } from "@plugbox/plugbox/contract";
import { PluginHost, startPlugin, ValidationError } from "../../mod.ts";
import { Bare } from "../fixtures/contracts.ts";
import { testDeadline, within } from "../_helpers.ts";
import { hostile, pluginFolder } from "./_hostile.ts";
import { main } from "../../cli.ts";
import { seccompInstructions } from "../../runner/sandbox/seccomp.ts";

const SOURCE = await Deno.readTextFile(hostile("r153_raw.ts"));

/** r153_raw.ts in `mode`, in a folder of its own. */
function raw(mode: string) {
  const text = SOURCE.replace('const MODE: string = "union";', `const MODE: string = "${mode}";`);
  return pluginFolder({ "main.ts": `${text}// ${crypto.randomUUID()}\n` });
}

/** `bare.echo` answering a list, each item one of eight shapes: costly to check, cheap to parse. */
const Listing = defineContract({
  name: "bare",
  version: 1,
  methods: {
    echo: z.function({
      input: [z.number()],
      output: z.array(z.union([
        ...["b", "c", "d", "e", "f", "g", "h"].map((k) => z.object({ [k]: z.number() })),
        z.object({ a: z.string() }),
      ] as unknown as [z.ZodObject, z.ZodObject])),
    }),
  },
});

Deno.test("r153: a call with onProgress gets its result checked against the contract", async () => {
  testDeadline(60_000);
  await using folder = await raw("big");
  await using plugin = await startPlugin(join(folder.dir, "main.ts"), {
    contracts: [Bare],
    isolation: "deno",
    stopGraceMs: 200,
  });
  const api = plugin.api(Bare);
  for (
    const options of [{ onProgress: () => {} }, { resetTimeoutOnProgress: true, timeout: 20_000 }]
  ) {
    const outcome = await within(
      api.echo.with(options)(1).then((value) => `resolved with a ${typeof value}`, (e) => e),
      30_000,
      "a call with progress",
    );
    assert.ok(
      outcome instanceof ValidationError,
      `${Object.keys(options)}: the plugin's 16 MiB string for a number was refused: ${outcome}`,
    );
  }
});

for (const via of ["plugin", "host"] as const) {
  Deno.test(`r153: checking answers after their reading is charged to the plugin's pace (${via})`, async () => {
    testDeadline(90_000);
    await using folder = await raw("union");
    await using host = new PluginHost({ handleSignals: false });
    const common = { contracts: [Listing], isolation: "deno" as const, stopGraceMs: 200 };
    const module = join(folder.dir, "main.ts");
    await using own = via === "plugin" ? await startPlugin(module, common) : undefined;
    const managed = via === "host" ? await host.start("costly", module, common) : undefined;
    const plugin = own ?? managed!.current!;
    const api = (own ?? managed!).api(Listing, { signal: new AbortController().signal });
    const began = Date.now();
    const settled = await within(
      Promise.allSettled([1, 2, 3, 4, 5].map((n) => api.echo(n))),
      60_000,
      "five costly answers",
    );
    assert.deepEqual(settled.map((s) => s.status), Array(5).fill("fulfilled"));
    assert.ok(
      plugin.answersPacedSince(began),
      "five answers whose check took 0.15 to 0.25 s each were paced past the 250 ms burst",
    );
  });
}

// Review 152 added --unsafe-lock-queries to plug's options and README, but plug's --help, which
// lists every other acknowledgement, did not name it.
Deno.test("r153: plug's help names every --unsafe- option plug takes", async () => {
  const args = await Deno.readTextFile(new URL("../../runner/cli/args.ts", import.meta.url));
  const flags = [...args.matchAll(/"(--unsafe-[a-z-]+)":/g)].map((m) => m[1]);
  assert.ok(flags.includes("--unsafe-lock-queries"), `plug takes ${flags.join(", ")}`);
  for (const command of ["call", "check", "audit"]) {
    const lines: string[] = [];
    const code = await main([command, "--help"], { out: (l) => lines.push(l), err: () => {} });
    assert.equal(code, 0);
    const help = lines.join("\n");
    assert.deepEqual(flags.filter((f) => !help.includes(f)), [], `plug ${command} --help`);
  }
});

/** What a classic BPF program of seccompInstructions' opcodes returns for `data` (seccomp_data). */
function runFilter(program: readonly number[][], data: DataView): number {
  let a = 0;
  for (let pc = 0; pc < program.length; pc++) {
    const [code, jt, jf, k] = program[pc];
    if (code === 0x20) a = data.getUint32(k, true); // ld [k]
    else if (code === 0x54) a = (a & k) >>> 0; // and #k
    else if (code === 0x15) pc += a === k >>> 0 ? jt : jf; // jeq
    else if (code === 0x25) pc += a > k >>> 0 ? jt : jf; // jgt
    else if (code === 0x35) pc += a >= k >>> 0 ? jt : jf; // jge
    else if (code === 0x45) pc += a & k ? jt : jf; // jset
    else if (code === 0x05) pc += k; // ja
    else if (code === 0x06) return k >>> 0; // ret #k
    else throw new Error(`opcode ${code.toString(16)} at ${pc}`);
  }
  throw new Error("the program ran off its end");
}

// unsafe.lockQueries (review 152) is meant to give native code the record-lock queries back and
// nothing else. Both filters run on every syscall number below 520 of each architecture, with each
// of the first three arguments set to values the rules compare (fcntl's commands, flags, own pid):
// they differ for fcntl's F_GETLK (5) and F_OFD_GETLK (36) only (also with the high word set,
// which the kernel ignores for fcntl's int command).
Deno.test("r153: unsafe.lockQueries changes the native filters for record-lock queries only", () => {
  const values = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 15, 16, 36, 37, 38, 1024, 1025, 1026, 1030]
    .map(BigInt).concat([4242n, 0xffffffffn, 0x100000005n, 3072n, 0x400040n, 0x7e020000n, 49n]);
  const fcntl = { x86_64: 72, aarch64: 25 };
  const audit = { x86_64: 0xc000003e, aarch64: 0xc00000b7 };
  const bases = [
    { landlock: false, nativeCode: true },
    { landlock: false, unixSockets: true, nativeCode: true },
    { landlock: true, nativeCode: true, signalsOnlyTo: 4242 },
    { landlock: true, nativeCode: true },
  ];
  const seen: string[] = [];
  const data = new DataView(new ArrayBuffer(64));
  for (const arch of ["x86_64", "aarch64"] as const) {
    for (const base of bases) {
      const refused = seccompInstructions(arch, base);
      const allowed = seccompInstructions(arch, { ...base, lockQueries: true });
      for (let nr = 0; nr < 520; nr++) {
        for (let arg = 0; arg < 3; arg++) {
          for (const value of values) {
            new Uint8Array(data.buffer).fill(0);
            data.setUint32(0, nr, true);
            data.setUint32(4, audit[arch], true);
            if (arg > 0) data.setBigUint64(16, 3n, true);
            data.setBigUint64(16 + 8 * arg, value, true);
            const before = runFilter(refused, data);
            const after = runFilter(allowed, data);
            if (before !== after) {
              seen.push(`${arch} ${nr === fcntl[arch] ? "fcntl" : nr} arg${arg}=${value}`);
            }
          }
        }
      }
    }
  }
  const expected = (["x86_64", "aarch64"] as const).flatMap((arch) =>
    bases.flatMap(() => ["5", "36", "4294967301"].map((v) => `${arch} fcntl arg1=${v}`))
  );
  assert.deepEqual(seen, expected);
});

// The pacing is not work-conserving: it holds when the plugin is alone in the host too. An honest
// plugin answering 64 calls at once, each with 100,000 objects (6 MiB, its contract's array),
// answered all 64 in 16 s before review 146; paced, 24 and 30 of them within the default 30 s
// deadline (the rest TimeoutError). `answerTimeShare` lets the host that trusts its plugin's answers
// to be honest read them unpaced, or at the share it chooses.
Deno.test("r153: answerTimeShare 1 reads a plugin's costly answers unpaced", async () => {
  testDeadline(90_000);
  await using folder = await raw("union");
  const module = join(folder.dir, "main.ts");
  const paced = async (options: { answerTimeShare?: number }) => {
    await using plugin = await startPlugin(module, {
      contracts: [Listing],
      isolation: "deno",
      stopGraceMs: 200,
      ...options,
    });
    const began = Date.now();
    const api = plugin.api(Listing);
    const settled = await within(
      Promise.allSettled([1, 2, 3, 4, 5, 6].map((n) => api.echo(n))),
      60_000,
      "six costly answers",
    );
    assert.deepEqual(settled.map((s) => s.status), Array(6).fill("fulfilled"));
    return plugin.answersPacedSince(began);
  };
  assert.equal(await paced({}), true, "at the default share, six such answers are paced");
  assert.equal(await paced({ answerTimeShare: 1 }), false, "at a share of 1, none is");
  await assert.rejects(
    startPlugin(module, { contracts: [Listing], answerTimeShare: 0 }),
    /"answerTimeShare" must be a share of time/,
  );
});
