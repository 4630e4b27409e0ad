// Review 155: names removed, forgotten or reused while something of them is still under way.
// PluginHost.remove(name) against start (of the same name at once), restarts after crashes, hot
// standbys, stop, stopAll, killNow, aborts and dispose; hostFetch's forget(plugin) against requests
// in flight, lookups that settle late and new requests of the name. A seeded fuzz over real
// plugins under the OS and Deno layers checks after each round: every promise settled, no process
// left (by pid), each incarnation's log lines its own, each process's start and exit reported once
// under its name (by pid), no request of a forgotten name in the log, and no ManagedPlugin,
// Plugin, Standby, line (Slots), resolver or requests' count of a removed name in the heap. The
// seed is printed on failure; R155_SEED and R155_ROUNDS replay and lengthen it. What it found has
// tests of its own, after it.
import assert from "node:assert/strict";
import { join } from "node:path";
import { hostFetch, type LogEntry, PluginHost, provide } from "../../mod.ts";
import type { HostFetchRequestData } from "../../runner/contract.ts";
import { resolving } from "../../runner/host/egress_check.ts";
import { R155 } from "./plugins/r155_contract.ts";
import { hostile, pluginFolder, procStat, rng, treeOf } from "./_hostile.ts";
import { liveObjects } from "../_heap.ts";
import { processesNaming, testDeadline, uncaught, until, within } from "../_helpers.ts";

const LAYERS = ["os", "deno"] as const;
const NAMES = ["a", "b"];
const ROUNDS = Number(Deno.env.get("R155_ROUNDS") ?? 4);
const CALL_MS = 3_000;
const STOP_MS = 5_000;
/** What the heap must hold no more of once every name of a round is removed. */
const KINDS = ["ManagedPlugin", "Plugin", "Standby", "Slots", "bounded", "UnderWay", "NameState"];

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether `pid` runs still (not gone, not a zombie). */
function running(pid: number): boolean {
  try {
    return procStat(pid)[0] !== "Z";
  } catch {
    return false;
  }
}

function kill(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    Deno.kill(pid, "SIGKILL");
  } catch {
    // gone
  }
}

/** r155_plugin.ts as `r155_<marker>.ts` in a folder of its own: its processes name the marker. */
async function markedPlugin(marker: string) {
  const read = (name: string) => Deno.readTextFile(hostile(name));
  const folder = await pluginFolder({
    [`r155_${marker}.ts`]: await read("r155_plugin.ts"),
    "r155_contract.ts": await read("r155_contract.ts"),
    "plugbox.json": await read("plugbox.json"),
  });
  return {
    main: join(folder.dir, `r155_${marker}.ts`),
    [Symbol.asyncDispose]: () => folder[Symbol.asyncDispose](),
  };
}

/**
 * A hostFetch for `fast.invalid` (resolved at once) and `slow.invalid` (resolved after up to
 * 600 ms, past any stop of the plugin that asked), and how many of its requests are under way.
 */
function fetcherFor(port: number, random: () => number) {
  const fetcher = hostFetch({
    allow: [`fast.invalid:${port}`, `slow.invalid:${port}`],
    unsafe: { privateNetwork: true },
    resolve: (name) =>
      name === "slow.invalid"
        ? pause(100 + random() * 500).then(() => ["127.0.0.1"])
        : Promise.resolve(["127.0.0.1"]),
  });
  let underWay = 0;
  const counted = (request: HostFetchRequestData, context: Parameters<typeof fetcher>[1]) => {
    underWay++;
    return fetcher(request, context).finally(() => underWay--);
  };
  return { fetcher, counted, underWay: () => underWay };
}

type Op =
  | "start"
  | "remove"
  | "remove-start"
  | "remove-forget-start"
  | "stop"
  | "restart"
  | "stop-all"
  | "kill-now"
  | "abort"
  | "sigkill"
  | "sigkill-standby"
  | "exit"
  | "calls"
  | "say"
  | "fetch";
const OPS: Op[] = [
  "start",
  "remove",
  "remove",
  "remove-start",
  "remove-start",
  "remove-forget-start",
  "remove-forget-start",
  "stop",
  "restart",
  "stop-all",
  "kill-now",
  "abort",
  "sigkill",
  "sigkill-standby",
  "exit",
  "calls",
  "say",
  "say",
  "fetch",
  "fetch",
  "fetch",
];

/** One round over one host; see the module. Returns the pids of every process it saw. */
async function round(
  random: () => number,
  main: string,
  fetch: ReturnType<typeof fetcherFor>,
  port: number,
  log: string[],
  before: Record<string, number>,
): Promise<Set<number>> {
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)];
  const promises: Promise<string>[] = [];
  const wrong: string[] = [];
  const pids = new Set<number>();
  const track = (what: string, promise: Promise<unknown>) => {
    const at = log.length;
    promises.push(
      within(
        promise.then(() => "ok", (e) => String(e).split("\n")[0]),
        20_000,
        `${what} (step ${at}) of [${log.join(", ")}]`,
      ).then((outcome) => `${what}: ${outcome}`),
    );
  };
  // Each process's start and exit, by pid: an exit reported of one never started under its name
  // (another incarnation's), or twice, is wrong; so is a start with no exit once all is stopped.
  const started = new Map<number, string>();
  const exited = new Set<number>();
  const host = new PluginHost({
    handleSignals: false,
    onEvent: (event) => {
      if (event.type === "start") {
        pids.add(event.pid);
        if (started.has(event.pid)) wrong.push(`${event.pid} started twice`);
        started.set(event.pid, event.plugin);
      }
      if (event.type === "exit") {
        if (started.get(event.pid) !== event.plugin || exited.has(event.pid)) {
          wrong.push(
            `exit of ${event.pid} (${event.plugin}), started as ${started.get(event.pid)}`,
          );
        }
        exited.add(event.pid);
      }
      if (event.type === "standby" && event.change === "ready") pids.add(event.pid);
    },
  });
  let incarnations = 0;
  const ids = new WeakMap<object, string>();
  const aborts = new Map<string, AbortController>();
  const start = (name: string) => {
    const id = `inc${++incarnations}x`;
    const controller = new AbortController();
    aborts.set(name, controller);
    // Each incarnation's own listener hears its own lines only: one of another is a leak.
    const onLog = (entry: LogEntry) => {
      const said = entry.message.match(/inc\d+x/g) ?? [];
      const others = said.filter((token) => token !== id);
      if (others.length > 0) wrong.push(`${id} (${name}) heard ${others} at step ${log.length}`);
    };
    log.push(`  ${name} is ${id}`);
    const was = managed(name);
    const starting = host.start(name, main, {
      contracts: [R155],
      capabilities: [provide(R155, { fetch: fetch.counted })],
      isolation: pick(LAYERS),
      hotStandby: random() < 0.4,
      signal: controller.signal,
      onLog,
      stopGraceMs: 100,
      stopTermMs: 100,
      healthIntervalMs: 0,
      restart: random() < 0.15 ? "never" : "on-failure",
      whileRestarting: random() < 0.5 ? "fail" : "wait",
      backoffInitialMs: Math.floor(random() * 50),
      maxRestarts: 1 + Math.floor(random() * 3),
      callTimeout: CALL_MS,
    });
    const made = managed(name);
    if (made && made !== was) ids.set(made, id);
    track(
      `start ${name} ${id}`,
      starting.then((plugin) => {
        // A new incarnation starts from nothing: no restart, failure or state of an old one.
        if (plugin.restarts !== 0 && plugin.state === "running") {
          wrong.push(`${id} (${name}) started with ${plugin.restarts} restarts`);
        }
      }),
    );
  };
  const managed = (name: string) => {
    try {
      return host.get(name);
    } catch {
      return undefined;
    }
  };
  const remove = (name: string) => {
    if (managed(name)) track(`remove ${name}`, host.remove(name));
  };
  for (const name of NAMES) if (random() < 0.9) start(name);
  if (random() < 0.6) await Promise.all(promises);
  /** One step: a function of its own, so that nothing it held stays in the round's frame. */
  const act = (op: Op, name: string) => {
    const api = () => managed(name)?.api(R155, { timeout: CALL_MS });
    for (const plugin of NAMES.map(managed)) {
      for (const pid of [plugin?.current?.pid, plugin?.standbyPid]) {
        if (pid !== undefined) treeOf(pid).forEach((p) => pids.add(p));
      }
    }
    switch (op) {
      case "start":
        start(name);
        break;
      case "remove":
        remove(name);
        break;
      case "remove-start":
        // The name free again at once, its old plugin still stopping beside the new one.
        remove(name);
        start(name);
        break;
      case "remove-forget-start":
        // Forgotten once its old plugin is gone: the new one's requests until then go with it.
        if (managed(name)) {
          const removed = host.remove(name).then(() => fetch.fetcher.forget(name));
          track(`remove ${name} and forget`, removed);
        }
        start(name);
        break;
      case "stop":
        if (managed(name)) track(`stop ${name}`, host.stop(name));
        break;
      case "restart":
        if (managed(name)) track(`restart ${name}`, host.restart(name));
        break;
      case "stop-all":
        track("stopAll", host.stopAll());
        break;
      case "kill-now":
        host.killNow();
        break;
      case "abort":
        aborts.get(name)?.abort();
        break;
      case "sigkill":
        kill(managed(name)?.current?.pid);
        break;
      case "sigkill-standby":
        kill(managed(name)?.standbyPid);
        break;
      case "exit":
        if (api()) track(`exit ${name}`, api()!.attempt("exit 3"));
        break;
      case "calls":
        for (const what of ["echo", "slow 300", "echo"]) {
          if (api()) track(`call ${name}`, api()!.attempt(what));
        }
        break;
      case "say": {
        // What the incarnation called says: its own token, heard by its own listener alone.
        const plugin = managed(name);
        const id = plugin && ids.get(plugin);
        if (plugin && id) {
          track(`say ${name} ${id}`, plugin.api(R155, { timeout: CALL_MS }).attempt(`say ${id}`));
        }
        break;
      }
      case "fetch":
        for (const at of ["fast", "slow", "slow"]) {
          if (api()) track(`fetch ${name}`, api()!.fetch(`http://${at}.invalid:${port}/`));
        }
        break;
    }
  };
  const steps = 6 + Math.floor(random() * 10);
  for (let i = 0; i < steps; i++) {
    const op = pick(OPS);
    const name = pick(NAMES);
    const roll = random();
    await pause(roll < 0.3 ? 0 : roll * 300);
    log.push(`${op} ${name}`);
    act(op, name);
  }
  // Every name removed and forgotten, some in the middle of what they do: all of it settles, and
  // the host, still in use, holds nothing of them; then it is disposed.
  log.push("remove all");
  const removed = NAMES.filter(managed).map((name) => host.remove(name));
  await within(Promise.allSettled(removed), STOP_MS * 2, `removal of [${log.join(", ")}]`);
  for (const name of NAMES) fetch.fetcher.forget(name);
  const results = await Promise.all(promises);
  if (Deno.env.get("R155_VERBOSE")) console.error(log.join("\n"), "\n", results.join("\n "));
  // The host's requests end once their lookups do, however late.
  await until(() => fetch.underWay() === 0, 5_000, `hostFetch's requests of [${log.join(", ")}]`);
  assert.deepEqual(liveObjects(KINDS), before, `live objects after [${log.join(", ")}]`);
  log.push("dispose");
  await within(host[Symbol.asyncDispose](), STOP_MS * 2, `dispose of [${log.join(", ")}]`);
  for (const [pid, name] of started) {
    if (!exited.has(pid)) wrong.push(`no exit of ${pid} (${name})`);
  }
  assert.deepEqual(wrong, [], `wrong after [${log.join(", ")}]`);
  assert.deepEqual(host.list(), []);
  assert.deepEqual(
    fetch.fetcher.log().map((e) => `${e.plugin} ${e.url} ${e.verdict} ${e.reason ?? e.status}`),
    [],
    `requests logged after their name was forgotten, after [${log.join(", ")}]`,
  );
  assert.equal(fetch.fetcher.dropped(), 0);
  return pids;
}

Deno.test(`r155: ${ROUNDS} random interleavings of names removed, forgotten and reused, OS and Deno layers: all settles, no process is left, nothing of a removed name stays`, async () => {
  testDeadline(150_000);
  const seed = Number(Deno.env.get("R155_SEED") ?? Math.floor(Math.random() * 2 ** 31));
  const random = rng(seed);
  const marker = `9${crypto.getRandomValues(new Uint32Array(1))[0]}`;
  await using plugin = await markedPlugin(marker);
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      if (request.url.includes("slow")) await pause(200);
      return new Response("served");
    },
  );
  const port = server.addr.port;
  const fetch = fetcherFor(port, random);
  using seen = uncaught();
  const before = liveObjects(KINDS);
  for (let i = 0; i < ROUNDS; i++) {
    const log: string[] = [`round ${i}`];
    try {
      const pids = await round(random, plugin.main, fetch, port, log, before);
      const left = [...pids].filter(running);
      assert.deepEqual(left, [], `processes left after [${log.join(", ")}]`);
      assert.deepEqual(processesNaming(marker).map((p) => p.pid), []);
      assert.deepEqual(treeOf(Deno.pid).slice(1), [], "processes below the host");
    } catch (error) {
      for (const { pid } of processesNaming(marker)) kill(pid);
      throw new Error(`r155 fuzz failed (R155_SEED=${seed}): ${error}`, { cause: error });
    }
  }
  await pause(0);
  assert.deepEqual(seen.seen, [], `R155_SEED=${seed}`);
});

// The documented use, `await host.remove(name)` then `fetcher.forget(name)`, left the name's
// requests whose lookup was still running: each was logged when its lookup ended, after the
// forget, into the log of the next plugin of that name (3 requests of the removed plugin, all
// "cancelled", in the new one's log, which made 2), and held for good once no plugin of the name
// came again. What a new plugin of the name has under way as the name is forgotten is its own.
Deno.test("r155: hostFetch's forget() after remove(): the removed plugin's requests still under way are not logged when they end, nor handed to the next plugin of that name, whose own are", async () => {
  testDeadline(60_000);
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response("served"),
  );
  const port = server.addr.port;
  const asked: (() => void)[] = [];
  const heard: string[] = [];
  const fetcher = hostFetch({
    allow: [`fast.invalid:${port}`, `slow.invalid:${port}`],
    unsafe: { privateNetwork: true },
    // A lookup of slow.invalid answers when the test says: after the plugin is gone.
    resolve: (name) =>
      name === "slow.invalid"
        ? new Promise((resolve) => asked.push(() => resolve(["127.0.0.1"])))
        : Promise.resolve(["127.0.0.1"]),
    onRequest: (entry) => heard.push(`${entry.plugin} ${entry.host} ${entry.verdict}`),
  });
  await using host = new PluginHost({ handleSignals: false, defaults: { healthIntervalMs: 0 } });
  const options = {
    contracts: [R155],
    capabilities: [provide(R155, { fetch: fetcher })],
    isolation: "deno" as const,
  };
  const first = await host.start("first", hostile("r155_plugin.ts"), options);
  const kinds = ["ManagedPlugin", "Plugin", "Slots", "bounded", "UnderWay", "NameState"];
  const before = liveObjects(kinds);
  // A name whose requests are all done holds none of what they used: its line, its resolver, its
  // requests' count (each goes by itself, without a forget).
  assert.equal(await first.api(R155).fetch(`http://fast.invalid:${port}/`), "served");
  assert.deepEqual(liveObjects(kinds), before);
  await host.start("job", hostile("r155_plugin.ts"), options);
  const calls = [1, 2, 3].map(() =>
    host.api("job", R155).fetch(`http://slow.invalid:${port}/`).catch((e) => e.name)
  );
  await until(() => asked.length === 3, 20_000, "the three lookups");
  await host.remove("job");
  assert.deepEqual(await Promise.all(calls), Array(3).fill("PluginExitedError"));
  // The name again, at once, before the host forgets the old one: the new plugin's request under
  // way then, and its request after, are its own, and logged.
  // In a function of its own: what an async function held stays in its frame after the block.
  await (async () => {
    await host.start("job", hostile("r155_plugin.ts"), options);
    const api = host.api("job", R155);
    const slow = api.fetch(`http://slow.invalid:${port}/`);
    await until(() => asked.length === 4, 20_000, "the new plugin's lookup");
    fetcher.forget("job");
    assert.equal(await api.fetch(`http://fast.invalid:${port}/`), "served");
    asked.forEach((answer) => answer());
    assert.equal(await slow, "served");
    await until(() => heard.length === 6, 20_000, "the old plugin's requests' end");
    assert.deepEqual(heard.slice(1).sort(), [
      "job fast.invalid allowed",
      "job slow.invalid allowed",
      "job slow.invalid failed",
      "job slow.invalid failed",
      "job slow.invalid failed",
    ]);
    assert.deepEqual(
      fetcher.log("job").map((e) => `${e.host} ${e.verdict}`),
      ["fast.invalid allowed", "slow.invalid allowed"],
    );
  })();
  await host.remove("job");
  fetcher.forget("job");
  assert.deepEqual(fetcher.log().map((e) => e.plugin), ["first"]);
  assert.equal(fetcher.dropped(), 0);
  // Nothing of the name is left: its line, its resolver, its requests' count.
  assert.deepEqual(liveObjects(kinds), before);
});

for (const isolation of LAYERS) {
  // A host that removes a name and starts it again at once has both beside each other, under one
  // name: the old one stopping (its process, its standby), the new one starting. Each process's
  // exit was reported under the name with no pid, so a listener that followed a name by its
  // `start` events could not tell the old process's exit from the new one's.
  Deno.test(`r155 [${isolation}]: remove(name) and a start of the name at once: the old plugin's stop ends its own processes only, each exit is reported with its pid, and the new plugin starts from nothing`, async () => {
    testDeadline(90_000);
    const events: string[] = [];
    await using host = new PluginHost({
      handleSignals: false,
      onEvent: (event) => {
        if (event.type === "start" || event.type === "exit") {
          events.push(`${event.type} ${event.pid}`);
        }
      },
    });
    const options = {
      contracts: [R155],
      // No fetch of this plugin's is made here.
      capabilities: [provide(R155, { fetch: () => Promise.reject(new Error("not here")) })],
      isolation,
      hotStandby: true,
      maxRestarts: 2,
      healthIntervalMs: 0,
      backoffInitialMs: 10,
      stopGraceMs: 100,
      stopTermMs: 100,
    };
    const old = await host.start("a", hostile("r155_plugin.ts"), options);
    await until(() => old.standbyPid !== undefined, 20_000, "the standby");
    const crashed = old.current!.pid;
    kill(crashed);
    await until(
      () => old.current !== undefined && old.current.pid !== crashed,
      20_000,
      "the takeover",
    );
    await until(() => old.standbyPid !== undefined, 20_000, "the next standby");
    assert.equal(old.restarts, 1);
    const oldPids = [crashed, old.current!.pid, old.standbyPid!];
    const oldTrees = oldPids.flatMap(treeOf);
    const removed = host.remove("a");
    const fresh = await host.start("a", hostile("r155_plugin.ts"), options);
    assert.equal((await removed)?.reason, "stopped");
    assert.equal(old.state, "stopped");
    assert.deepEqual(oldTrees.filter(running), []);
    // The new one: its own process, running, answering, with no restart and no failure of the old.
    const pid = fresh.current!.pid;
    assert.ok(!oldPids.includes(pid));
    assert.equal(fresh.current!.isolation, isolation);
    assert.deepEqual(
      [fresh.state, fresh.restarts, fresh.failure, await host.api("a", R155).attempt("echo")],
      ["running", 0, undefined, "ok"],
    );
    assert.ok(running(pid));
    assert.deepEqual(
      events.filter((e) => e.startsWith("exit")).sort(),
      [
        `exit ${oldPids[0]}`,
        `exit ${oldPids[1]}`,
      ].sort(),
    );
    assert.deepEqual(events.filter((e) => e.startsWith("start")), [
      `start ${oldPids[0]}`,
      `start ${oldPids[1]}`,
      `start ${pid}`,
    ]);
  });
}

// Held: what bounds a name's lookups is not given back by forget() nor by a new plugin of the name.
// A plugin's lookups that its removal abandoned still hold host threads (review 127): a host that
// removes a name, forgets it and starts it again hands the new plugin a name whose 64 lookups are
// still running, and its lookups are refused until they end.
Deno.test("r155: forget() and a new plugin of the name give back none of the name's lookup bound while its old lookups run", async () => {
  testDeadline(60_000);
  // Its lookups answer only when told: each passes the deadline, whatever its length. A short one
  // saves waiting out 5 s.
  const deadlineMs = resolving.deadlineMs;
  resolving.deadlineMs = 250;
  using _ = { [Symbol.dispose]: () => void (resolving.deadlineMs = deadlineMs) };
  let answer!: () => void;
  const hung = new Promise<void>((resolve) => answer = resolve);
  let asked = 0;
  const fetcher = hostFetch({
    allow: ["slow.invalid:80"],
    unsafe: { privateNetwork: true },
    resolve: () => {
      asked++;
      return hung.then(() => ["127.0.0.1"]);
    },
  });
  const get = (signal: AbortSignal) =>
    fetcher({ url: "http://slow.invalid/", method: "GET" }, { plugin: "job", signal }).then(
      () => "answered",
      (error: Error) => error.message,
    );
  const removed = new AbortController();
  const old = Array.from({ length: 64 }, () => get(removed.signal));
  removed.abort(); // its plugin is gone: the lookups run on
  // Each given up on at the resolving deadline.
  assert.ok((await Promise.all(old)).every((m) => /took longer than/.test(m)));
  fetcher.forget("job");
  assert.match(await get(new AbortController().signal), /64 lookups still running/);
  assert.equal(asked, 64);
  assert.deepEqual(fetcher.log("job").map((e) => e.verdict), ["refused"]);
  // Once they end, the name looks up again.
  answer();
  await until(
    async () => !/still running/.test(await get(new AbortController().signal)),
    5_000,
    "the lookups' end",
  );
  assert.equal(asked, 65);
});

// The re-read's merge of hostFetch's three per-name maps into one NameState: the state must stay
// while a request of the name is under way, not only while its lookups run. Dropped when a lookup
// settled, the next request of the name made a new state, and a new line (Slots) with it, and
// went past maxConcurrent beside the request still holding the old line's turn.
Deno.test("r155: a name's requests past maxConcurrent wait their turn after their lookups settle", async () => {
  const arrived: string[] = [];
  const held: (() => void)[] = [];
  let holding = true;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    arrived.push(new URL(request.url).pathname);
    if (holding) await new Promise<void>((resolve) => held.push(resolve));
    return new Response("ok");
  });
  await using _ = { [Symbol.asyncDispose]: () => server.shutdown() };
  const port = server.addr.port;
  const fetcher = hostFetch({
    allow: [`held.invalid:${port}`],
    unsafe: { privateNetwork: true },
    maxConcurrent: 1,
    resolve: () => Promise.resolve(["127.0.0.1"]),
  });
  const signal = new AbortController().signal;
  const get = (plugin: string, path: string) =>
    fetcher({ url: `http://held.invalid:${port}/${path}`, method: "GET" }, { plugin, signal });
  const calls = [get("a", "a1")];
  try {
    await until(() => arrived.length === 1, 10_000, "a's first request");
    // a's second request, fired after its first's lookup settled, waits for its turn; b's, fired
    // after it, goes on at once.
    calls.push(get("a", "a2"), get("b", "b"));
    await until(() => arrived.includes("/b"), 10_000, "b's request");
    assert.deepEqual(arrived, ["/a1", "/b"], "a's second request went past maxConcurrent");
    held.splice(0).forEach((go) => go());
    await until(() => arrived.length === 3, 10_000, "a's second request, once its turn came");
  } finally {
    // Every request answered from here on, so that a failure above is the test's own, not a
    // request left waiting past the test.
    holding = false;
    held.splice(0).forEach((go) => go());
  }
  for (const answer of await Promise.all(calls)) assert.equal(answer.body, "ok");
});
