/**
 * Review 167: a start's command line and sandbox against what the kernel and bubblewrap take
 * (9d7ca23), and the options checks of review 165, attacked. Each test failed on the code it was
 * written against (362edf7): the graph check's spawn, which carries the grants too, failed with
 * the kernel's bare "Argument list too long" before the start's line was checked; 990 paths of
 * 231 bytes, within the 1,024 mounts, timed the start out with no word of why; an inherited
 * option was read by previewStart and not by startPlugin, so a preview planned what no start ran.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { approvePlugin, PluginHost, previewStart, startPlugin } from "../../mod.ts";
import { argumentBudget, checkSandboxArgs, MAX_MOUNTS } from "../../runner/sandbox/command_line.ts";
import { firstPrivateAddress, refusePrivateNets } from "../../runner/sandbox/net.ts";
import { Touch } from "../fixtures/contracts.ts";
import { fixture, freshCache, rejected, testDeadline } from "../_helpers.ts";

const toucher = fixture("toucher.ts");

/** `count` empty files whose paths are about `bytes` long (folders of 100-byte names). */
async function longPaths(count: number, bytes: number) {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-r167-" }));
  let dir = root;
  while (dir.length + 100 + 8 < bytes) dir = join(dir, "d".repeat(99));
  await Deno.mkdir(dir, { recursive: true });
  const name = (i: number) => `f${i}-`.padEnd(bytes - dir.length - 1, "x");
  const paths = Array.from({ length: count }, (_, i) => join(dir, name(i)));
  for (const path of paths) await Deno.writeFile(path, new Uint8Array());
  return {
    paths,
    [Symbol.asyncDispose]: () => Deno.remove(root, { recursive: true }),
  };
}

Deno.test("r167: the graph check's own command line is held to the kernel's limit, naming the grants (Landlock: 5,500 paths of 430 bytes)", async () => {
  testDeadline(30_000);
  // Once over the kernel's budget here (5,500 where the stack limit is 8 MiB): the check's line.
  const count = Math.ceil((argumentBudget() * 1.1) / 431);
  await using files = await longPaths(count, 430);
  await using cache = await freshCache();
  // Before: "Failed to spawn '/usr/bin/sh': Argument list too long (os error 7)", from the graph
  // check, whose launcher spec lists every path once, before the start's line was checked.
  const error = await rejected<Error>(previewStart(toucher, {
    isolation: "landlock",
    cacheDir: cache.path,
    permissions: { read: files.paths },
  }));
  assert.ok(error instanceof TypeError, String(error));
  assert.match(
    error.message,
    /^Cannot start plugin: its command line and environment come to \d+ bytes, and the kernel passes at most \d+/,
  );
  assert.match(error.message, new RegExp(`permissions\\.read lists ${count} entries`));
});

Deno.test("r167: bubblewrap's mounts are held by their bytes too, not their number alone", () => {
  const binds = (n: number, bytes: number) =>
    Array.from({ length: n }, (_, i) => {
      const path = `/${String(i).padStart(bytes - 1, "p")}`;
      return ["--ro-bind", path, path];
    }).flat();
  checkSandboxArgs(binds(MAX_MOUNTS, 96));
  checkSandboxArgs(binds(300, 1_000));
  assert.throws(
    () => checkSandboxArgs(binds(800, 231)),
    /^TypeError: Cannot start plugin under the OS layer: its sandbox would mount 800 paths of 184800 bytes together, and bubblewrap's time grows with their number times their length/,
  );
  // The count's own refusal still comes first.
  assert.throws(() => checkSandboxArgs(binds(MAX_MOUNTS + 1, 8)), /would mount 1025 paths, and/);
});

Deno.test("r167: 990 paths of 231 bytes under the OS layer are refused at once, naming the mounts", async () => {
  testDeadline(40_000);
  await using files = await longPaths(990, 231);
  await using cache = await freshCache();
  // Before: within the 1,024 mounts, each sandbox took seconds, and the start failed with
  // "Timed out after 10000 ms waiting for start of plugin" (or its graph check after 15 s).
  const error = await rejected<Error>(startPlugin(toucher, {
    contracts: [Touch],
    isolation: "os",
    cacheDir: cache.path,
    permissions: { read: files.paths },
  }));
  assert.ok(error instanceof TypeError, String(error));
  assert.match(
    error.message,
    /^Cannot start plugin under the OS layer: its sandbox would mount \d+ paths of \d+ bytes together/,
  );
});

Deno.test("r167: an option a start would not read (inherited, or not enumerable) is refused by every entry, not planned by one and dropped by another", async () => {
  testDeadline(30_000);
  await using cache = await freshCache();
  const inherited = (proto: object, own: object) =>
    Object.assign(Object.create(proto), { cacheDir: cache.path, ...own });
  // Before: previewStart read the prototype's "isolation" (and refused "bogus"), startPlugin
  // copied its options' own keys and started under "auto" with no word.
  const started = await startPlugin(
    toucher,
    inherited({ isolation: "bogus" }, { contracts: [Touch] }),
  ).then(async (plugin) => {
    await plugin.close();
    return "started";
  }, (error: Error) => error);
  assert.ok(started instanceof TypeError, String(started));
  assert.match(
    started.message,
    /^Cannot start plugin "[^"]*": option "isolation" is inherited from its options' prototype/,
  );
  const preview = await rejected<Error>(
    previewStart(toucher, inherited({ isolation: "bogus" }, {})),
  );
  assert.match(preview.message, /: option "isolation" is inherited from its options' prototype/);
  // A lock given so was dropped by a start: it ran what no lock approved.
  const lock = { path: join(cache.path, "plugbox.lock.json") };
  for (
    const attempt of [
      () => startPlugin(toucher, inherited({ lock }, { contracts: [Touch], isolation: "deno" })),
      () => previewStart(toucher, inherited({ lock }, { isolation: "deno" })),
      () => approvePlugin(toucher, inherited({ lock }, { isolation: "deno" }) as never),
    ]
  ) {
    const error = await attempt().then(async (value) => {
      if (value && "close" in value) await value.close();
      return value;
    }, (error: Error) => error);
    assert.ok(error instanceof TypeError, String(error));
    assert.match(error.message, /option "lock" is inherited from its options' prototype/);
  }
  const hidden = Object.defineProperty({ cacheDir: cache.path }, "lokc", {
    value: lock,
    enumerable: false,
  });
  assert.match(
    (await rejected<Error>(previewStart(toucher, hidden))).message,
    /option "lokc" is not enumerable/,
  );
  await using host = new PluginHost({ handleSignals: false });
  assert.match(
    (await rejected<Error>(
      host.start("p", toucher, inherited({ lock }, { contracts: [Touch], isolation: "deno" })),
    )).message,
    /^Cannot start plugin "p": option "lock" is inherited/,
  );
  assert.throws(
    () => new PluginHost({ handleSignals: false, defaults: inherited({ lock }, {}) }),
    /option "lock" is inherited/,
  );
  // Plain objects, frozen ones and ones without a prototype are taken as they are.
  const plain = await previewStart(
    toucher,
    Object.freeze(Object.assign(Object.create(null), { cacheDir: cache.path, isolation: "deno" })),
  );
  assert.equal(plain.isolation, "deno");
});

Deno.test("r167: a stopped start begins no more lookups of its net grants' names", async () => {
  testDeadline(30_000);
  const dir = await Deno.makeTempDir({ prefix: "plugbox-r167-" });
  try {
    const hosts = join(dir, "hosts");
    Deno.writeTextFileSync(hosts, "");
    const names = Array.from({ length: 40 }, (_, i) => `r167-${i}.plugbox-test.example:443`);
    const stop = new AbortController();
    stop.abort(new DOMException("The start was stopped", "AbortError"));
    // Before: the 40 names were looked up all the same, for up to 10 s after the start settled.
    const left = await firstPrivateAddress(names, { hostsFiles: [hosts], signal: stop.signal });
    assert.deepEqual(left.unchecked, names);
    await assert.rejects(
      refusePrivateNets(names, { hostsFiles: [hosts], signal: stop.signal }),
      /^AbortError: The start was stopped/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
