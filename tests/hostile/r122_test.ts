// Review 122: the host's side and misuse of its API. Options read more than once, whose value
// changed between the check and the use; stream and progress options, signals and a call's
// timeout string never checked; capabilities named as members every object inherits. Each test
// but the last (a regression guard of the host out of file descriptors) failed on the code it was
// written against (4d4b923).
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { PluginHost, provide, type StartOptions, startPlugin } from "../../mod.ts";
import { Life } from "../fixtures/contracts.ts";
import { TwoWay } from "../fixtures/two_way_contract.ts";
import { R122 } from "./plugins/r122_contract.ts";
import { fixture, rejected, testDeadline, until, within } from "../_helpers.ts";
import { childrenOf, hostile } from "./_hostile.ts";

const twoWayBase = provide(TwoWay, {
  load: (key) => `value of ${key}`,
  waitForCancel: () => {},
  twice: (n) => n * 2,
  pad: (a, b, c, d) => `${a}|${b}|${c}|${d}`,
});

/** Starts with `options`: the error it was refused with, or "accepted" (the plugin closed). */
async function refusal(options: Partial<StartOptions>): Promise<Error | "accepted"> {
  try {
    const plugin = await startPlugin(fixture("two_way.ts"), {
      contracts: [TwoWay],
      capabilities: [twoWayBase],
      callTimeout: 5_000,
      ...options,
    });
    await plugin.close();
    return "accepted";
  } catch (error) {
    return error as Error;
  }
}

// A window of 0, NaN, -1, 1.5, 1e308 or Infinity items or bytes was taken as it was: the SDK takes
// only a positive safe integer as credit, so the plugin was granted none, and every stream of
// every call hung until its deadline, with nothing to say why (measured: 3.1 s of a 3 s deadline
// each, then a TimeoutError naming the call). A progress rate of NaN was no rate at all.
Deno.test("r122: a stream window or progress rate no stream can use is refused before anything runs, naming the option", async () => {
  const bad: [Partial<StartOptions>, RegExp][] = [];
  for (const value of [0, -0, -1, 1.5, NaN, Infinity, -Infinity, 1e308, 2 ** 53]) {
    bad.push([{ streamWindow: { items: value } }, /"streamWindow\.items" must be an integer/]);
    bad.push([{ streamWindow: { bytes: value } }, /"streamWindow\.bytes" must be an integer/]);
    bad.push([{ maxProgressPerSecond: value }, /"maxProgressPerSecond" must be an integer/]);
  }
  for (const value of [null, 5, "64", true]) {
    bad.push([
      { streamWindow: value as unknown as StartOptions["streamWindow"] },
      /"streamWindow" must be an object/,
    ]);
  }
  bad.push([
    { streamWindow: { items: "8" as unknown as number } },
    /"streamWindow\.items" must be an integer .* got string/,
  ]);
  for (const [options, message] of bad) {
    const outcome = await refusal(options);
    const shown = `${JSON.stringify(options)} (${String(options.streamWindow?.items)})`;
    assert.ok(outcome instanceof TypeError, `${shown}: ${outcome}`);
    assert.match(outcome.message, message, shown);
  }
  // A managed plugin's options are checked alike, before its name is taken.
  await using host = new PluginHost({ handleSignals: false });
  const managed = await rejected<TypeError>(
    host.start("w", fixture("two_way.ts"), { contracts: [TwoWay], streamWindow: { items: 0 } }),
  );
  assert.match(managed.message, /"streamWindow\.items"/);
  assert.deepEqual(host.list(), []);
  // The smallest window each way still streams, one item at a time.
  await using plugin = await startPlugin(fixture("two_way.ts"), {
    contracts: [TwoWay],
    capabilities: [twoWayBase],
    streamWindow: { items: 1, bytes: 1 },
    maxProgressPerSecond: 1,
  });
  const got: number[] = [];
  for await (const n of plugin.api(TwoWay).count(5)) got.push(n);
  assert.deepEqual(got, [0, 1, 2, 3, 4]);
});

/**
 * Every number `startPlugin` checks: a getter each, valid for its first two reads (`startPlugin`'s
 * check and `launchPlugin`'s) and `poison` after.
 */
function turningOptions(poison: number) {
  const reads: Record<string, number> = {};
  const valid: Record<string, number> = {
    startTimeout: 20_000,
    callTimeout: 10_000,
    cancelGraceMs: 2_000,
    stopGraceMs: 500,
    stopTermMs: 500,
    maxInFlight: 8,
    maxLineBytes: 1 << 20,
    maxCapabilityBytes: 1 << 20,
    capabilityTimeShare: 0.25,
    maxQueuedBytes: 1 << 24,
    maxFaults: 50,
    faultWindowMs: 10_000,
    maxLogLinesPerSecond: 100,
    maxPartialLineMs: 10_000,
    maxProgressPerSecond: 10,
  };
  const options: Record<string, unknown> = { contracts: [Life], isolation: "deno" };
  for (const [name, value] of Object.entries(valid)) {
    reads[name] = 0;
    Object.defineProperty(options, name, {
      enumerable: true,
      get: () => ++reads[name] <= 2 ? value : poison,
    });
  }
  const window: Record<string, number> = {};
  for (const [name, value] of [["items", 64], ["bytes", 1 << 16]] as const) {
    const key = `streamWindow.${name}`;
    reads[key] = 0;
    Object.defineProperty(window, name, {
      enumerable: true,
      get: () => ++reads[key] <= 2 ? value : poison,
    });
  }
  options.streamWindow = window;
  return { options: options as unknown as StartOptions, reads };
}

// Checked, then read again (the checks run twice, the plugin's constructor read them a third time):
// a getter or a Proxy whose value turned to 0 or NaN after the checks made the constructor throw
// "Slot count must be a positive integer, got 0" after the process was spawned. The start was
// refused, and its process (and, under the OS layer, its sandbox) ran on with no handle to end it,
// until the host exited. With `callTimeout` turned to NaN, every call was refused with `"timeout"
// must be a number`, an option the caller never gave.
Deno.test("r122: options whose getters change after the checks are read once: the start keeps what was checked, no process is left", async () => {
  for (const poison of [0, NaN, -1]) {
    const before = new Set(childrenOf(Deno.pid));
    const { options, reads } = turningOptions(poison);
    const outcome = await startPlugin(fixture("lifecycle.ts"), options).then(
      async (plugin) => {
        try {
          return await plugin.api(Life).echo(7);
        } finally {
          await plugin.close();
        }
      },
      (error: Error) => error,
    );
    // A start refused after its spawn would leave its process: none may be left either way.
    await until(
      () => childrenOf(Deno.pid).filter((pid) => !before.has(pid)).length === 0,
      10_000,
      "no process of the start left",
    ).catch(() => {
      const left = childrenOf(Deno.pid).filter((pid) => !before.has(pid));
      for (const pid of left) Deno.kill(-pid, "SIGKILL");
      throw new Error(`poison ${poison}: processes left behind: ${left} (start: ${outcome})`);
    });
    assert.equal(outcome, 7, `poison ${poison}: ${outcome}`);
    for (const [name, count] of Object.entries(reads)) {
      assert.equal(count, 1, `poison ${poison}: "${name}" read ${count} times`);
    }
  }
});

// Reading the options is the start's own step: a getter or Proxy trap that throws is named as such.
Deno.test("r122: options whose reading throws refuse the start with a TypeError naming the plugin and the cause", async () => {
  const throwing = {
    contracts: [Life],
    get callTimeout(): number {
      throw new Error("the config store is gone");
    },
  };
  const error = await rejected<TypeError>(startPlugin(fixture("lifecycle.ts"), throwing));
  assert.ok(error instanceof TypeError, String(error));
  assert.match(
    error.message,
    /Cannot start plugin ".*lifecycle\.ts": reading its options threw: the config store is gone/,
  );
  const trap = new Proxy({ contracts: [Life] }, {
    ownKeys: () => {
      throw new RangeError("no keys today");
    },
  });
  const fromTrap = await rejected<TypeError>(startPlugin(fixture("lifecycle.ts"), trap));
  assert.match(fromTrap.message, /reading its options threw: no keys today/);
  // A signal that is none is named as such, before anything runs (it failed later, as
  // "options.signal?.throwIfAborted is not a function", and in a host as
  // "signal.addEventListener is not a function").
  for (const signal of [{ aborted: false }, "abort", 7]) {
    const options = { contracts: [Life], signal: signal as unknown as AbortSignal };
    const alone = await rejected<TypeError>(startPlugin(fixture("lifecycle.ts"), options));
    assert.match(alone.message, /"signal" must be an AbortSignal/);
    await using host = new PluginHost({ handleSignals: false });
    const managed = await rejected<TypeError>(host.start("s", fixture("lifecycle.ts"), options));
    assert.match(managed.message, /"signal" must be an AbortSignal/);
  }
  for (const options of [null, undefined, 7, "x"]) {
    const refused = await rejected<TypeError>(
      startPlugin(fixture("lifecycle.ts"), options as unknown as StartOptions),
    );
    assert.ok(refused instanceof TypeError, String(refused));
    assert.match(refused.message, /its options must be an object/);
  }
});

// A contract may name a capability as any identifier but then, __proto__ and constructor: toString
// and valueOf among them. An implementation that left them out was taken, since every object
// inherits both: the plugin's calls were answered by Object.prototype's (measured: "[object Object]"
// and {}), and the host never knew it had forgotten them. An implementation changed after
// provide() (a capability deleted), or an entry not made by it, failed the start with "Cannot read
// properties of undefined (reading 'bind')".
Deno.test("r122: capabilities named as inherited members must be implemented; one gone after provide() is named at the start", async () => {
  const error = (() => {
    try {
      provide(R122, {} as never);
    } catch (error) {
      return error as Error;
    }
  })();
  assert.ok(error instanceof TypeError, `provide() took an empty implementation: ${error}`);
  assert.match(error.message, /"toString", "valueOf" are missing or not a function/);
  // Implemented, they are the host's own, and the plugin reaches them.
  const impl: Record<string, unknown | undefined> = {
    toString: () => "mine",
    valueOf: () => ({ n: 5 }),
  };
  const given = provide(R122, impl as never);
  await using plugin = await startPlugin(hostile("r122_inherits.ts"), {
    contracts: [R122],
    capabilities: [given],
  });
  assert.equal(await plugin.api(R122).ask("toString"), 'answered "mine"');
  assert.equal(await plugin.api(R122).ask("valueOf"), 'answered {"n":5}');
  // Taken out after provide(), or never given by a hand-made entry: the start names it.
  Reflect.deleteProperty(impl, "valueOf");
  for (const capabilities of [[given], [{ contract: R122, capabilities: {} }]]) {
    const refused = await rejected<TypeError>(
      startPlugin(hostile("r122_inherits.ts"), {
        contracts: [R122],
        capabilities: capabilities as never,
      }),
    );
    assert.ok(refused instanceof TypeError, String(refused));
    assert.match(
      refused.message,
      /capability "(valueOf|toString)" of contract "r122" is missing or not a function/,
    );
  }
});

// The class of the two above, as a property: options built at random, each number a plain member,
// a getter whose value changes from read to read, or read through a Proxy; the signal sometimes
// aborted already, with a reason no one should touch. Every start settles; it runs on the values
// its checks saw (each read once), or is refused with a TypeError naming an option whose value was
// bad (or, all good, with the abort's own reason); no process is left either way. The model below
// is the documented range of each option. PLUGBOX_R122_SEED replays a failing run.
const R122_RUNS = Number(Deno.env.get("PLUGBOX_R122_RUNS") ?? 12);

/** Each number `startPlugin` checks: a good value, the least it may be and the most. */
const MS = 2 ** 31 - 1;
const NUMBERS: Record<string, { good: number; min: number; max?: number }> = {
  startTimeout: { good: 20_000, min: 1 },
  callTimeout: { good: 10_000, min: 1 },
  cancelGraceMs: { good: 2_000, min: 0 },
  stopGraceMs: { good: 300, min: 0 },
  stopTermMs: { good: 300, min: 0 },
  maxInFlight: { good: 4, min: 1, max: 1_000_000 },
  maxLineBytes: { good: 1 << 20, min: 1024, max: 1024 ** 3 },
  maxCapabilityBytes: { good: 1 << 20, min: 1024, max: 1024 ** 3 },
  maxQueuedBytes: { good: 1 << 24, min: 1024, max: 1024 ** 3 },
  maxFaults: { good: 20, min: 0, max: 1_000_000 },
  faultWindowMs: { good: 5_000, min: 1 },
  maxLogLinesPerSecond: { good: 50, min: 1, max: 1_000_000 },
  maxPartialLineMs: { good: 5_000, min: 1 },
  maxProgressPerSecond: { good: 5, min: 1, max: 1_000_000 },
};
const POISONS: unknown[] = [0, -0, -1, 0.5, NaN, Infinity, -Infinity, 1e308, 2 ** 31, "5", null];

function r122Random(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}

/** Whether `value` is one the option takes (its documented range). */
function takes(name: string, value: unknown): boolean {
  const { min, max } = NUMBERS[name];
  if (typeof value !== "number" || !Number.isFinite(value) || value < min) return false;
  // A count is an integer up to its most; a number of milliseconds any up to setTimeout's.
  return max === undefined ? value <= MS : Number.isSafeInteger(value) && value <= max;
}

async function optionsInterleaving(random: () => number, log: string[]) {
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)];
  const reads: Record<string, number> = {};
  const first: Record<string, unknown> = {};
  const target: Record<string | symbol, unknown> = { contracts: [Life], isolation: "deno" };
  const viaProxy = random() < 0.3;
  const perRead: Record<string, () => unknown> = {};
  for (const name of Object.keys(NUMBERS)) {
    if (random() < 0.5) continue;
    const { good } = NUMBERS[name];
    const a = random() < 0.92 ? good : pick(POISONS);
    const b = random() < 0.5 ? good : pick(POISONS);
    const changing = random() < 0.6;
    reads[name] = 0;
    first[name] = a;
    log.push(`${name}=${String(a)}${changing ? `>${String(b)}` : ""}`);
    perRead[name] = () => ++reads[name] === 1 || !changing ? a : b;
    if (!viaProxy) {
      Object.defineProperty(target, name, { enumerable: true, get: perRead[name] });
    } else target[name] = a; // the Proxy answers, read by read
  }
  const odd = random() < 0.25;
  const reason = odd
    ? new Proxy({}, {
      get: () => {
        throw new Error("the reason was read");
      },
    })
    : undefined;
  if (odd) {
    target.signal = AbortSignal.abort(reason);
    log.push("signal=aborted(proxy)");
  }
  const options = viaProxy
    ? new Proxy(target, {
      get: (t, key, receiver) =>
        typeof key === "string" && perRead[key] ? perRead[key]() : Reflect.get(t, key, receiver),
    })
    : target;
  if (viaProxy) log.push("via Proxy");
  const bad = Object.keys(first).filter((name) => !takes(name, first[name]));
  const before = new Set(childrenOf(Deno.pid));
  const outcome = await within(
    startPlugin(fixture("lifecycle.ts"), options as unknown as StartOptions).then(
      async (plugin) => {
        try {
          return await plugin.api(Life).echo(3);
        } finally {
          await plugin.close();
        }
      },
      // Wrapped: resolving with the Proxy would read its `then`.
      (error: unknown) => ({ error }),
    ),
    60_000,
    "the start to settle",
  );
  await until(
    () => childrenOf(Deno.pid).filter((pid) => !before.has(pid)).length === 0,
    10_000,
    "no process of the start left",
  );
  const refused = typeof outcome === "object" ? outcome.error : undefined;
  if (bad.length > 0) {
    assert.ok(
      refused instanceof TypeError,
      `bad ${bad}, got ${refused === reason ? "the reason" : String(outcome)}`,
    );
    assert.ok(
      bad.some((name) => refused.message.includes(`"${name}"`)),
      `bad ${bad}, the error names none: ${refused.message}`,
    );
  } else if (odd) {
    assert.ok(refused === reason, "refused with the abort's own reason");
  } else {
    assert.equal(outcome, 3, String(outcome));
    for (const [name, count] of Object.entries(reads)) {
      assert.equal(count, 1, `"${name}" read ${count} times`);
    }
  }
}

Deno.test(`r122: ${R122_RUNS} random options (getters that change, Proxies, poisons, aborted signals) each start as checked or are refused naming the option, and leave no process`, async () => {
  testDeadline(180_000);
  const seed = Number(Deno.env.get("PLUGBOX_R122_SEED") ?? Date.now() % 1_000_000);
  const random = r122Random(seed);
  for (let i = 0; i < R122_RUNS; i++) {
    const log: string[] = [];
    try {
      await optionsInterleaving(random, log);
    } catch (error) {
      throw new Error(
        `Failed at run ${i} (PLUGBOX_R122_SEED=${seed}) [${log.join(", ")}]: ${error}`,
        {
          cause: error,
        },
      );
    }
  }
});

// A call's timeout is checked by the process's own call; a managed plugin's call that waited out a
// restart handed it to a timer first: NaN, Infinity, 1e308 or a string fired at once, a
// TimeoutError "after NaN ms" of a restart, where the same call while running was a TypeError.
Deno.test("r122: a managed plugin's call refuses a bad timeout or signal alike while running and while restarting", async () => {
  await using host = new PluginHost({ handleSignals: false });
  const managed = await host.start("t", fixture("lifecycle.ts"), {
    contracts: [Life],
    isolation: "deno",
    healthIntervalMs: 0,
    backoffInitialMs: 120_000,
    backoffMaxMs: 120_000,
  });
  const bad = [NaN, Infinity, -1, 1e308, 2 ** 31, "5", "1e9", "abc"] as unknown as number[];
  const refusals = async () => {
    const seen: string[] = [];
    for (const timeout of bad) {
      const error = await rejected<Error>(managed.call("life.echo", [1], { timeout }));
      seen.push(`${String(timeout)}: ${error.name}: ${error.message.split("\n")[0]}`);
    }
    const signal = { aborted: false } as unknown as AbortSignal;
    const error = await rejected<Error>(managed.call("life.echo", [1], { signal }));
    seen.push(`signal: ${error.name}: ${error.message.split("\n")[0]}`);
    return seen;
  };
  // A string (from an environment variable, say) was taken while running: "5" never timed out.
  const slow = await rejected<Error>(managed.call("life.slow", [2_000], { timeout: "5" as never }));
  assert.equal(slow.name, "TypeError", slow.message);
  // A call's signal that is none is named too (it was "Invalid value used as weak map key", or,
  // the answer come, "signal.removeEventListener is not a function").
  for (const signal of [{}, "x", { aborted: true, reason: "fake" }] as never[]) {
    const raw = await rejected<Error>(managed.current!.call("life.echo", [1], { signal }));
    assert.match(raw.message, /"signal" must be an AbortSignal/);
    assert.throws(() => managed.api(Life, { signal }), /"signal" must be an AbortSignal/);
    assert.throws(() => managed.current!.api(Life, { signal }), /"signal" must be an AbortSignal/);
  }
  const running = await refusals();
  for (const line of running) assert.match(line, /TypeError: "(timeout|signal)" must be/);
  const pid = managed.current!.pid;
  Deno.kill(pid, "SIGKILL");
  await until(() => managed.state === "restarting", 10_000, "the plugin in its backoff");
  const restarting = await refusals();
  assert.deepEqual(restarting, running);
  // A good one still waits out the restart, to its own deadline.
  const waited = await rejected<Error>(managed.call("life.echo", [1], { timeout: 50 }));
  assert.equal(waited.name, "TimeoutError");
});

// Not a fix: what the host does out of file descriptors, kept as it was found. Under
// RLIMIT_NOFILE 40 the fourth or fifth start failed as the spawn's EMFILE ("Too many open files",
// named), left nothing of its own (no process, no descriptor), and once a plugin or two were
// stopped a start worked again; at the end nothing was left. How many stops a start needs depends
// on where the limit falls against the spawn's passing need, so the host stops one at a time (the
// CI's host inherited fewer descriptors than this one, and one stop was not enough there).
Deno.test("r122: a host out of file descriptors names the cause, leaves nothing of the failed start, and starts again once some are freed", async () => {
  const host = fileURLToPath(new URL("./_r122_fd_host.ts", import.meta.url));
  const out = await new Deno.Command("prlimit", {
    args: ["--nofile=40", Deno.execPath(), "run", "--allow-all", host, "deno", "30"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1) ?? "";
  assert.ok(out.success, `${text}\n${new TextDecoder().decode(out.stderr).slice(-2000)}`);
  const seen = JSON.parse(text);
  assert.ok(seen.started >= 1 && seen.started < 30, text);
  assert.match(seen.failure, /Too many open files/, text);
  assert.equal(seen.failedState, "failed", text);
  assert.equal(seen.childrenAtFailure, seen.started, `only the started plugins run: ${text}`);
  assert.equal(seen.fdsAfterFailure, seen.fdsBeforeFailure, `the failed start kept none: ${text}`);
  assert.equal(seen.again, "answered 7", text);
  assert.ok(seen.stops >= 1 && seen.stops <= seen.started, text);
  assert.equal(seen.childrenAtEnd, 0, text);
});
