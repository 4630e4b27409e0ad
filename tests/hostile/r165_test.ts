/**
 * Review 165: the user-facing surface, taken at its word: the `plug` command line with paths the
 * kernel cannot look up, misspelt options and huge arguments, and the options objects a host
 * passes to `startPlugin`, `PluginHost`, `previewStart` and `approvePlugin`. Each CLI case runs
 * the real CLI as a subprocess; each start a real plugin. Each test failed on the code it was
 * written against (47efac2).
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { approvePlugin, LockError, PluginHost, previewStart, startPlugin } from "../../mod.ts";
import { Greeter } from "../../plugins/hello/contract.ts";
import { rejected } from "../_helpers.ts";
import { plugRun as plug } from "./_hostile.ts";

const HELLO = fileURLToPath(new URL("../../plugins/hello/main.ts", import.meta.url));

/** A folder holding a file, a link to itself, and a name over NAME_MAX (255) below it. */
async function strangePaths(): Promise<{ dir: string } & AsyncDisposable> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-r165-" }));
  await Deno.writeTextFile(join(dir, "file"), "x");
  await Deno.symlink("loop", join(dir, "loop"));
  return { dir, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

const LONG = "n".repeat(300);

// A module the kernel cannot look up for a reason other than its absence: a loop among the folders
// on the way (ELOOP), a name over 255 bytes (ENAMETOOLONG). resolveEntry rethrew Deno's own error:
// `plug check loop/main.ts` printed "FilesystemLoop: Too many levels of symbolic links (os error
// 40): lstat '...'" and exited 1, the code for plug's own failure, not 2 for a bad argument;
// startPlugin rejected with Deno.errors.FilesystemLoop, which its docs do not list, naming no
// module. The same for the host's `root` option.
Deno.test("r165: a module or root the kernel cannot look up is a TypeError naming it, plug's exit code 2", async () => {
  await using paths = await strangePaths();
  for (
    const [spelled, reason] of [
      ["loop/main.ts", /Too many levels of symbolic links/],
      [`${LONG}/main.ts`, /File name too long/],
    ] as const
  ) {
    for (const command of ["check", "inspect", "approve"]) {
      const run = await plug([command, spelled, "--lock=" + join(paths.dir, "l.lock")], paths.dir);
      assert.equal(run.code, 2, `${command} ${spelled.slice(0, 20)}: ${run.stdout}${run.stderr}`);
      const said = run.stdout + run.stderr;
      assert.match(said, /Cannot start plugin: module ".*" cannot be looked up: /, said);
      assert.match(said, reason);
      assert.doesNotMatch(said, /os error|lstat '/, said);
    }
    const error = await rejected(startPlugin(join(paths.dir, spelled), { contracts: [Greeter] }));
    assert.ok(error instanceof TypeError, `${error.name}: ${error.message}`);
    assert.ok(error.message.includes(join(paths.dir, spelled.slice(0, 40))), error.message);
    const root = await rejected(
      startPlugin(HELLO, { contracts: [Greeter], root: join(paths.dir, spelled) }),
    );
    assert.ok(root instanceof TypeError, `${root.name}: ${root.message}`);
    assert.match(root.message, /^Cannot start plugin: root ".*" cannot be looked up: /);
  }
});

// A lock the kernel cannot open for a reason other than its absence: a file where a folder of its
// path should be (ENOTDIR), a loop on the way (ELOOP), a name over 255 bytes, /dev/tty with no
// terminal (ENXIO). A locked `plug call` printed Node's "Error: ENOTDIR: not a directory, open
// '...'" and exited 1; and a loop on the way was said to be "a link; give the file it leads to",
// though the lock named no link.
Deno.test("r165: a lock that cannot be opened refuses the locked start with a LockError naming it, exit code 7", async () => {
  await using paths = await strangePaths();
  for (
    const [lock, reason] of [
      ["file/plugbox.lock", /cannot be read: ENOTDIR: not a directory$/m],
      ["loop/plugbox.lock", /cannot be read: ELOOP/],
      [`${LONG}.lock`, /cannot be read: ENAMETOOLONG/],
    ] as const
  ) {
    for (
      const args of [["call", HELLO, "greeter.sayHello", '"a"'], ["approve", "--dry-run", HELLO]]
    ) {
      const run = await plug([...args, `--lock=${lock}`], paths.dir);
      assert.equal(run.code, 7, `${args[0]} ${lock.slice(0, 20)}: ${run.stdout}${run.stderr}`);
      assert.match(run.stderr, /^LockError: Refused to start plugin "hello": lock "/, run.stderr);
      assert.match(run.stderr, reason);
      assert.doesNotMatch(run.stderr, /is a link/);
      assert.equal(run.stdout, "");
    }
    const error = await rejected(
      startPlugin(HELLO, { contracts: [Greeter], lock: { path: join(paths.dir, lock) } }),
    );
    assert.ok(error instanceof LockError, `${error.name}: ${error.message}`);
    assert.equal(error.name, "LockError");
    assert.equal((error as LockError).reason, "malformed");
    assert.equal((error as LockError).lockPath, join(paths.dir, lock));
  }
});

// An option object's misspelt key was taken for one not given. `lokc: { path }` started a plugin
// no lock had approved; `isolaton: "os"` one under whatever "auto" found; `lock: { polcy:
// "refuse" }` under the lenient default; `approvePlugin(..., { dryRn: true })` wrote the lock.
// TypeScript refuses them in an object literal, not in options read from a config file, spread
// from another object, or written in JavaScript.
Deno.test("r165: a misspelt option of a start, a managed start, a host, a preview or an approval is a TypeError naming it", async () => {
  await using paths = await strangePaths();
  const lock = join(paths.dir, "plugbox.lock");
  const cases: [string, Record<string, unknown>, RegExp][] = [
    [
      "callTimout",
      { callTimout: 5 },
      /unknown option "callTimout" \(did you mean "callTimeout"\?\)/,
    ],
    ["lokc", { lokc: { path: lock } }, /unknown option "lokc" \(did you mean "lock"\?\)/],
    ["isolaton", { isolaton: "os" }, /unknown option "isolaton" \(did you mean "isolation"\?\)/],
    [
      "lock.polcy",
      { lock: { path: lock, polcy: "refuse" } },
      /"lock.polcy" \(did you mean "lock.policy"\?\)/,
    ],
    [
      "audit.maxEntires",
      { audit: { maxEntires: 5 } },
      /"audit.maxEntires" \(did you mean "audit.maxEntries"\?\)/,
    ],
    [
      "snapshotLimits",
      { snapshotLimits: { maxFiels: 5 } },
      /"snapshotLimits.maxFiels" \(did you mean/,
    ],
    ["cpu.shares", { cpu: { shares: 0.5 } }, /"cpu.shares" \(did you mean "cpu.share"\?\)/],
    [
      "streamWindow",
      { streamWindow: { itmes: 5 } },
      /"streamWindow.itmes" \(did you mean "streamWindow.items"\?\)/,
    ],
    ["__proto__", JSON.parse('{"__proto__": {"all": true}}'), /unknown option "__proto__"/],
  ];
  for (const [what, extra, message] of cases) {
    const error = await rejected(startPlugin(HELLO, { contracts: [Greeter], ...extra }));
    assert.ok(error instanceof TypeError, `${what}: ${error.name}: ${error.message}`);
    assert.match(error.message, /^Cannot start plugin ".*main\.ts": unknown option /);
    assert.match(error.message, message);
  }
  // A managed start's own options and a start's, and a host's defaults.
  await using host = new PluginHost({ handleSignals: false });
  const managed = await rejected(
    host.start("hello", HELLO, { contracts: [Greeter], maxRestart: 3 } as never),
  );
  assert.ok(managed instanceof TypeError);
  assert.match(
    managed.message,
    /^Cannot start plugin "hello": unknown option "maxRestart" \(did you mean "maxRestarts"\?\)/,
  );
  assert.throws(
    () => new PluginHost({ handleSignals: false, defaults: { calTimeout: 5 } } as never),
    /^TypeError: Cannot make a plugin host: its "defaults": unknown option "calTimeout" \(did you mean "callTimeout"\?\)/,
  );
  assert.throws(
    () => new PluginHost({ handleSignal: false } as never),
    /^TypeError: Cannot make a plugin host: unknown option "handleSignal" \(did you mean "handleSignals"\?\)/,
  );
  const preview = await rejected(previewStart(HELLO, { isolaton: "os" } as never));
  assert.ok(preview instanceof TypeError);
  assert.match(preview.message, /unknown option "isolaton" \(did you mean "isolation"\?\)/);
  const approval = await rejected(
    approvePlugin(HELLO, { lock: { path: lock }, dryRn: true } as never),
  );
  assert.ok(approval instanceof TypeError);
  assert.match(approval.message, /unknown option "dryRn" \(did you mean "dryRun"\?\)/);
  assert.equal(await Deno.stat(lock).catch(() => undefined), undefined, "the lock was written");
});

// Stripping a managed plugin's own options from each of its starts: the options every start of a
// PluginHost takes still start it, and the managed ones still hold.
Deno.test("r165: a managed plugin with every kind of option still starts, restarts and answers", async () => {
  await using host = new PluginHost({ handleSignals: false, defaults: { callTimeout: 10_000 } });
  const plugin = await host.start("hello", HELLO, {
    contracts: [Greeter],
    maxRestarts: 2,
    restart: "on-failure",
    whileRestarting: "wait",
    healthIntervalMs: 0,
    backoffInitialMs: 1,
    streamWindow: { items: 4 },
    lock: undefined,
  });
  assert.equal(await host.api("hello", Greeter).sayHello("a"), "hello, a");
  await plugin.restart();
  assert.equal(await host.api("hello", Greeter).sayHello("b"), "hello, b");
});

// The permissions' and acknowledgements' own misspellings were refused already, as zod's
// "Unrecognized key", with no known name; a list of paths refused was quoted whole (100,000 of
// them: a message of 1.3 MB); and a getter of theirs that threw was its bare Error.
Deno.test("r165: a misspelt permission kind or acknowledgement is named with the closest, its value quoted in part", async () => {
  const kind = await rejected(
    startPlugin(HELLO, { contracts: [Greeter], permissions: { raed: ["/tmp"] } as never }),
  );
  assert.ok(kind instanceof TypeError);
  assert.match(
    kind.message,
    /^Cannot grant permissions: unknown kind "raed" \(did you mean "read"\?\)/,
  );
  const ack = await rejected(
    startPlugin(HELLO, { contracts: [Greeter], unsafe: { privateNetwrok: true } as never }),
  );
  assert.ok(ack instanceof TypeError);
  assert.match(
    ack.message,
    /unknown acknowledgement "privateNetwrok" \(did you mean "privateNetwork"\?\)/,
  );
  const many = Array.from({ length: 100_000 }, (_, i) => `/srv/${i}`);
  const long = await rejected(
    startPlugin(HELLO, { contracts: [Greeter], permissions: { all: many as never } }),
  );
  assert.ok(long instanceof TypeError);
  assert.ok(long.message.length < 1000, `${long.message.length} characters`);
  const permissions = {
    get read(): string[] {
      throw new Error("the read getter threw");
    },
  };
  const getter = await rejected(startPlugin(HELLO, { contracts: [Greeter], permissions }));
  assert.ok(getter instanceof TypeError, `${getter.name}: ${getter.message}`);
  assert.match(getter.message, /reading its "permissions" threw: the read getter threw/);
});

// `plug call --timout=5` said "unknown option --timout", though the code has a "did you mean" (for
// manifests); `plug chek` "unknown command".
Deno.test("r165: plug names a misspelt option or command with the closest it has, exit code 2", async () => {
  for (
    const [args, said] of [
      [
        ["call", "--timout=5", HELLO, "greeter.sayHello"],
        /unknown option --timout \(did you mean "--timeout"\?\)/,
      ],
      [
        ["check", "--alow-read=/tmp", HELLO],
        /unknown option --alow-read \(did you mean "--allow-read"\?\)/,
      ],
      [["check", "--unsafe-privat-network", HELLO], /did you mean "--unsafe-private-network"\?/],
      [["chek", HELLO], /unknown command "chek" \(did you mean "check"\?\)/],
      [["help", "inspcet"], /unknown command "inspcet" \(did you mean "inspect"\?\)/],
    ] as const
  ) {
    const run = await plug([...args]);
    assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
    assert.match(run.stderr, said);
  }
});

// An argument of 120,000 characters (the most one argument may be, about) was quoted whole in the
// error line: a grant, a JSON argument, a module, an option, plug suggest's report path (twice).
// A script that passes a path from an untrusted checkout printed all of it.
Deno.test("r165: plug's error line quotes a huge argument in part, unless --verbose", async () => {
  const huge = "a".repeat(120_000);
  for (
    const args of [
      ["check", `--allow-read=${huge}`, HELLO],
      ["call", HELLO, "greeter.sayHello", huge],
      ["call", `--${huge}`],
      ["suggest", huge],
      ["prune", huge],
      [huge],
    ]
  ) {
    const run = await plug(args);
    const said = run.stdout + run.stderr; // plug check prints its refusal on stdout
    assert.equal(run.code, 2, said.slice(0, 300));
    assert.ok(said.length < 2200, `${args[0].slice(0, 20)}: ${said.length} characters`);
    assert.match(said, /… \(\d+ more characters\)/);
  }
  // --verbose shows the library's message whole: a refused grant's own message keeps the entry's
  // first and last thousand characters and its reason (grant_refusal.ts).
  const verbose = await plug(["check", "--verbose", `--allow-read=${huge}`, HELLO]);
  assert.equal(verbose.code, 2);
  assert.match(verbose.stdout, /a{900}… \(118\d{3} characters cut\) …a{900}/);
  assert.match(verbose.stdout, /: no such file or folder/);
});

// An API object's and a call's options were read by name too: `{ timout: 1000 }` gave each call
// the plugin's 30 s, and `.with({ onProgres })` a call whose every report went nowhere.
Deno.test("r165: a misspelt option of an API object or of one call is a TypeError naming it", async () => {
  await using plugin = await startPlugin(HELLO, { contracts: [Greeter] });
  assert.throws(
    () => plugin.api(Greeter, { timout: 1000 } as never),
    /^TypeError: Cannot make the API: unknown option "timout" \(did you mean "timeout"\?\)/,
  );
  const api = plugin.api(Greeter);
  assert.throws(
    () => api.sayHello.with({ onProgres: () => {} } as never),
    /^TypeError: Cannot call with these options: unknown option "onProgres" \(did you mean "onProgress"\?\)/,
  );
  assert.equal(await api.sayHello.with({ timeout: 5000 })("a"), "hello, a");
});

// An option of the wrong kind was taken as none where a check looked for an object: `cpu: 5`
// started the plugin with no CPU limit, `permissions: []` with no grant, `audit: []` with the
// default audit, `streamWindow: []` with the default window (readOnce copied the list into an
// object); `name: 5` named the plugin 5, `deno: 5` failed as Node's "The "path" argument must be
// of type string" (no option named), and a contracts list whose Proxy threw was that bare Error.
Deno.test("r165: an option of the wrong kind is a TypeError naming it, not taken as none", async () => {
  const throwing = new Proxy([Greeter], {
    get: (target, key) => {
      if (key === "length") throw new Error("the list's length threw");
      return Reflect.get(target, key);
    },
  });
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ cpu: 5 }, /: "cpu" must be an object, got number$/],
    [{ permissions: [] }, /: "permissions" must be an object, got a list$/],
    [{ audit: [] }, /: "audit" must be true or an object, got a list$/],
    [{ snapshotLimits: null }, /: "snapshotLimits" must be an object, got null$/],
    [{ name: 5 }, /: "name" must be a string, got number$/],
    [{ deno: 5 }, /: "deno" must be a string, got number$/],
    [{ streamWindow: [] }, /"streamWindow" must be an object of items and bytes, got a list$/],
    [{ contracts: throwing }, /: reading "contracts" threw: the list's length threw$/],
  ];
  for (const [extra, message] of cases) {
    const error = await rejected(startPlugin(HELLO, { contracts: [Greeter], ...extra }));
    assert.ok(error instanceof TypeError, `${Object.keys(extra)}: ${error.name}: ${error.message}`);
    assert.match(error.message, message);
  }
});

// A host's options of the wrong kind: `handleSignals: "false"` watched the signals (a string is
// true), `defaults: "abc"` was spread into each start as options "0", "1", "2" (review 165's left).
Deno.test("r165: a host's option of the wrong kind is a TypeError naming it", () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ handleSignals: "false" }, /"handleSignals" must be true or false, got string$/],
    [{ handleSignals: 0 }, /"handleSignals" must be true or false, got number$/],
    [{ defaults: "abc" }, /"defaults" must be an object of a plugin's options, got string$/],
    [{ defaults: [] }, /"defaults" must be an object of a plugin's options, got a list$/],
    [{ defaults: null }, /"defaults" must be an object of a plugin's options, got null$/],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => new PluginHost(options), (error: Error) => {
      assert.ok(error instanceof TypeError, `${JSON.stringify(options)}: ${error.name}`);
      assert.match(error.message, /^Cannot make a plugin host: /);
      assert.match(error.message, message);
      return true;
    });
  }
});

// A --deno that answers --version as Deno does and then prints no JSON for the module graph (a
// wrapper script, another tool) was refused as "the description of the module graph ... is too
// large to check (not-json)": a size, for what was no description at all.
Deno.test("r165: a --deno whose module graph is no JSON is refused as such, not as too large", async () => {
  await using paths = await strangePaths();
  const fake = join(paths.dir, "deno");
  await Deno.writeTextFile(
    fake,
    `#!/bin/sh\nif [ "$1" = --version ]; then exec ${
      JSON.stringify(Deno.execPath())
    } --version; fi\n` +
      `echo "this is no JSON"\n`,
  );
  await Deno.chmod(fake, 0o755);
  const cache = join(paths.dir, "cache");
  const run = await plug(["check", "--isolation=deno", `--deno=${fake}`, HELLO], paths.dir, {
    PLUGBOX_CACHE_DIR: cache,
  });
  assert.equal(run.code, 7, run.stdout + run.stderr);
  assert.match(run.stdout, /module graph of ".*main\.ts" is not JSON: is the Deno binary Deno's/);
  assert.doesNotMatch(run.stdout, /too large/);
});

// defineContract read its definition by name: `capabilties` (misspelt) was taken for no
// capability at all; a version of NaN or Infinity was "got null" (JSON's word for them); a name of
// 100,000 characters was quoted whole; "constructor" as a method name was told it must not be
// "then"; a methods object whose getter threw was that bare Error.
Deno.test("r165: defineContract names a misspelt field, quotes in part and says what it got", async () => {
  const { defineContract } = await import("../../contract.ts");
  const { z } = await import("zod");
  const f = z.function({ input: [z.string()], output: z.string() });
  const define = (definition: Record<string, unknown>) => () => defineContract(definition as never);
  assert.throws(
    define({ name: "a", version: 1, methods: { f }, capabilties: { f } }),
    /^TypeError: Cannot define contract: the definition has no field "capabilties"; its fields are "name", "version", "methods", "capabilities", "progress"$/,
  );
  assert.throws(define({ name: "a", version: NaN, methods: { f } }), /got NaN$/);
  assert.throws(define({ name: "a", version: Infinity, methods: { f } }), /got Infinity$/);
  assert.throws(
    define({ name: "a".repeat(100_000), version: 1, methods: { f } }),
    (error: Error) => error.message.length < 300 && /\(100000 characters\)$/.test(error.message),
  );
  assert.throws(
    define({ name: "a", version: 1, methods: { constructor: f } }),
    /method name "constructor" must be an identifier of at most 64 characters, not "then", "__proto__" or "constructor"$/,
  );
  const methods = {
    get f(): never {
      throw new Error("the getter threw");
    },
  };
  assert.throws(
    define({ name: "a", version: 1, methods }),
    /^TypeError: Cannot define contract: reading the definition threw: "the getter threw"$/,
  );
  // What the getter throws may throw again where its message is read: still this TypeError.
  const rethrows = {
    get f(): never {
      const thrown = new Error();
      Object.defineProperty(thrown, "message", {
        get: () => {
          throw thrown;
        },
      });
      throw thrown;
    },
  };
  assert.throws(
    define({ name: "a", version: 1, methods: rethrows }),
    /^TypeError: Cannot define contract: reading the definition threw: "a value with no text"$/,
  );
  // What it takes still defines, and a contract from another copy of the module still compiles.
  const ok = defineContract({ name: "a", version: 1, methods: { f }, capabilities: { f } });
  assert.equal(ok.name, "a");
});
