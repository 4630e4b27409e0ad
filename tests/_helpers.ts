/**
 * Shared test helpers: fixture paths, deadlines (tests wait on events, never
 * on fixed sleeps; every test has a deadline, see _deadline.ts) and fresh
 * caches (tests start from a state they make themselves).
 * @module
 */

import { existsSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { stateOf } from "../runner/sandbox/proc_tree.ts";

/** URL of a fixture plugin in tests/fixtures. */
export function fixture(name: string): URL {
  return new URL(`./fixtures/${name}`, import.meta.url);
}

/**
 * Milliseconds of CPU the calling thread has run (/proc/thread-self/schedstat, in ns): what the
 * host's thread spent, not the wall clock, which a loaded machine stretches. The kernel adds a
 * running thread's time there only at a tick or a switch, so a reading lags by up to a tick (a
 * join of about 8 ms once read as 0 s); `settled` sleeps 1 ms first, a switch, for the two ends of
 * a span of a few ms. Unsettled, a read costs microseconds, for a check inside a loop.
 */
export function threadCpuMs(options: { settled?: boolean } = {}): number {
  if (options.settled) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
  return Number(Deno.readTextFileSync("/proc/thread-self/schedstat").split(" ")[0]) / 1e6;
}

/**
 * `argv` run with every descriptor above 2 closed first (by bash from this process's PATH, which
 * then execs it, so the pid is the program's): a host that inherited none from this suite's runner
 * (this workplace's leaves several), as a host with no sh on its PATH must be to start a plugin
 * (review 121's class). Then each of `opened` is opened on /dev/null: a host that inherited those.
 */
export function noInheritedDescriptors(argv: string[], opened: number[] = []): string[] {
  const bash = (Deno.env.get("PATH") ?? "").split(":").map((dir) => join(dir, "bash"))
    .find((path) => path.startsWith("/") && existsSync(path));
  if (!bash) throw new Error("no bash on this process's PATH");
  const close =
    'for f in /proc/self/fd/*; do n=${f##*/}; [ "$n" -gt 2 ] && eval "exec $n>&-"; done';
  const open = opened.map((fd) => `exec ${fd}</dev/null; `).join("");
  return [bash, "-c", `${close}; ${open}exec "$@"`, "bash", ...argv];
}

/** Rejects when `promise` has not settled within `ms`; the timer never leaks. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Deadline of ${ms} ms passed waiting for ${what}`)),
      ms,
    );
  });
  try {
    return await waitFor(Promise.race([promise, deadline]), what);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves when `check()` is true, polling on a short interval, or rejects at the deadline. */
export async function until(
  check: () => boolean | Promise<boolean>,
  ms: number,
  what: string,
): Promise<void> {
  const end = Date.now() + ms;
  const waits = deadlineState()?.waits;
  waits?.add(what);
  try {
    while (!(await check())) {
      if (Date.now() > end) throw new Error(`Deadline of ${ms} ms passed waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  } finally {
    waits?.delete(what);
  }
}

/** Every isolation layer this machine runs, for tests that must hold under each. */
export const LAYERS = ["deno", "os", "landlock"] as const;

/** Resolves with what `promise` rejected with; fails the test if it resolved instead. */
export async function rejected<E = Error>(promise: Promise<unknown>): Promise<E> {
  try {
    const value = await promise;
    throw new Error(`Expected a rejection, got ${JSON.stringify(value)}`, { cause: "resolved" });
  } catch (error) {
    if (error instanceof Error && error.cause === "resolved") throw error;
    return error as E;
  }
}

/** Where a running test's per-test deadline state lives (see tests/_deadline.ts). */
export interface DeadlineState {
  /** The running test's name. */
  name: string;
  /** Its deadline in ms; {@linkcode testDeadline} changes it. */
  ms: number;
  /** Reschedules the deadline timer after `ms` changed. */
  reschedule(): void;
  /** What the test is waiting for right now, by label. */
  waits: Set<string>;
}

const STATE = Symbol.for("plugbox.testDeadline");

/** The running test's deadline state, when tests/_deadline.ts is preloaded. */
export function deadlineState(): DeadlineState | undefined {
  return (globalThis as { [STATE]?: DeadlineState })[STATE];
}

/** Sets the running test's state (tests/_deadline.ts does, around each test). */
export function setDeadlineState(state: DeadlineState | undefined): void {
  (globalThis as { [STATE]?: DeadlineState })[STATE] = state;
}

/**
 * Gives the running test a longer (or shorter) deadline than the default,
 * for the few tests that legitimately take long (memory bombs, the bench).
 */
export function testDeadline(ms: number): void {
  const state = deadlineState();
  if (!state) return;
  state.ms = ms;
  state.reschedule();
}

/**
 * Labels what the test waits for, so a test that passes its deadline says
 * what it was waiting on ("the handshake of t9_refuses_to_die.ts").
 */
export async function waitFor<T>(promise: Promise<T>, what: string): Promise<T> {
  const waits = deadlineState()?.waits;
  waits?.add(what);
  try {
    return await promise;
  } finally {
    waits?.delete(what);
  }
}

let warmSdk: Promise<string> | undefined;

/** The SDK folder of the default cache, built once per test module. */
function sharedSdk(): Promise<string> {
  warmSdk ??= (async () => {
    const { previewStart } = await import("../mod.ts");
    const plan = await previewStart(fixture("calc.ts"), { isolation: "deno" });
    const map = plan.args.find((a) => a.startsWith("--import-map="))!;
    return dirname(map.slice("--import-map=".length));
  })();
  return warmSdk;
}

/**
 * A cache folder of the test's own (pass it as `cacheDir`): no snapshot,
 * verdict, Deno dir or storage blocker from an earlier test, so a test of a
 * mitigation sees the mitigation's own work. The SDK bundle, which is not
 * under test here, is copied in from the default cache rather than rebuilt.
 */
export async function freshCache(): Promise<{ path: string } & AsyncDisposable> {
  const sdk = await sharedSdk();
  const path = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-cache-" }));
  await Deno.mkdir(join(path, "sdk"));
  const copied = await new Deno.Command("cp", {
    args: ["-a", sdk, join(path, "sdk", basename(sdk))],
  }).output();
  if (!copied.success) {
    throw new Error(`could not copy the SDK: ${new TextDecoder().decode(copied.stderr)}`);
  }
  return {
    path,
    [Symbol.asyncDispose]: async () => {
      await new Deno.Command("chmod", { args: ["-R", "u+w", path] }).output();
      await Deno.remove(path, { recursive: true });
    },
  };
}

/** Whether `path` exists (a broken link or a missing parent counts as not). */
export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** What {@linkcode slowRunDeno} makes. */
export interface SlowRunDeno extends AsyncDisposable {
  /** The wrapper, to pass as a start's `deno`. */
  deno: string;
  /** Its runs waiting on the FIFO (or running past it). */
  building(): { pid: number; argv: string[] }[];
  /** Lets the waiting runs go on. */
  release(): Promise<void>;
  /** SIGKILLs its runs: the FIFO's only readers, so nothing waits or leaks, whatever failed. */
  stop(): void;
}

/**
 * A Deno whose `run` waits for a line on a FIFO first: the build of the SDK's code cache (one
 * Deno run, made once for every start) waits with it until {@linkcode SlowRunDeno.release}.
 * Disposing stops its runs and removes its folder.
 */
export async function slowRunDeno(): Promise<SlowRunDeno> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-slow-seed-" }));
  const go = join(dir, "go");
  const made = await new Deno.Command("mkfifo", { args: [go] }).output();
  if (!made.success) throw new Error(`mkfifo failed: ${new TextDecoder().decode(made.stderr)}`);
  const deno = join(dir, "deno");
  const script =
    `#!/bin/sh\n[ "$1" = run ] && read -r line < ${go}\nexec ${Deno.execPath()} "$@"\n`;
  await Deno.writeTextFile(deno, script, { mode: 0o755 });
  const building = () => processesNaming(deno).filter((p) => p.argv.includes("run"));
  const stop = () => {
    for (const { pid } of building()) Deno.kill(pid, "SIGKILL");
  };
  return {
    deno,
    building,
    release: () => Deno.writeTextFile(go, "\n"),
    stop,
    async [Symbol.asyncDispose]() {
      stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Keeps this thread busy for `ms`: work a test's handler does, as the host's time sees it. */
export function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* the work */ }
}

/** Whether `pid` runs: there, and not a zombie (gone as far as any kill is concerned). */
export function alive(pid: number): boolean {
  const state = stateOf(pid);
  return state !== undefined && state !== "Z";
}

/** A v1 freezer cgroup holding `pid`, frozen: SIGKILL does not end it until it is thawed. */
export async function frozen(pid: number): Promise<{ thaw(): Promise<void> }> {
  const dir = `/sys/fs/cgroup/freezer/plugbox-test-${crypto.randomUUID().slice(0, 8)}`;
  Deno.mkdirSync(dir);
  Deno.writeTextFileSync(`${dir}/cgroup.procs`, String(pid));
  Deno.writeTextFileSync(`${dir}/freezer.state`, "FROZEN");
  await until(
    () => Deno.readTextFileSync(`${dir}/freezer.state`).trim() === "FROZEN",
    5000,
    "the freeze",
  );
  return {
    async thaw() {
      Deno.writeTextFileSync(`${dir}/freezer.state`, "THAWED");
      await until(() => Deno.remove(dir).then(() => true, () => false), 5000, "the freezer");
    },
  };
}

/**
 * Records what reaches the top while it is held: a rejection no one handled,
 * an error no one caught. Deno would end the whole test module on either;
 * recorded here (and kept from Deno), the test that caused it can assert
 * that none came, and say which one did. The events come a turn of the
 * event loop after the fault: assert after the next round trip to a plugin.
 */
export function uncaught(): { seen: string[] } & Disposable {
  const seen: string[] = [];
  const onRejection = (event: PromiseRejectionEvent) => {
    event.preventDefault();
    seen.push(`unhandled rejection: ${event.reason}`);
  };
  const onError = (event: ErrorEvent) => {
    event.preventDefault();
    seen.push(`uncaught error: ${event.error ?? event.message}`);
  };
  globalThis.addEventListener("unhandledrejection", onRejection);
  globalThis.addEventListener("error", onError);
  return {
    seen,
    [Symbol.dispose]() {
      globalThis.removeEventListener("unhandledrejection", onRejection);
      globalThis.removeEventListener("error", onError);
    },
  };
}

/**
 * A plugin whose module-graph check never ends on its own: its entry
 * imports a FIFO outside its folder, in a folder it is granted to read
 * (`read`), which `deno info` opens, under every layer, and waits on for a
 * writer that never comes (until the check's deadline, `preflightTimeout`).
 * For tests that stop a start while it is planned; the FIFO lies outside
 * the snapshot, so only the check meets it.
 */
export async function hangingCheckPlugin(): Promise<
  { main: string; read: string } & AsyncDisposable
> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-hanging-check-" }));
  const read = join(dir, "granted");
  await Deno.mkdir(read);
  const fifo = join(read, "pipe.js");
  const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
  if (!made.success) throw new Error(`mkfifo ${fifo} failed`);
  await Deno.mkdir(join(dir, "hanging"));
  const main = join(dir, "hanging", "main.ts");
  await Deno.writeTextFile(main, `import "file://${fifo}";\n`);
  return { main, read, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

/** Live processes, anywhere, whose argv holds `text` in one of its arguments. */
export function processesNaming(text: string): { pid: number; argv: string[] }[] {
  const found: { pid: number; argv: string[] }[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name) || Number(entry.name) === Deno.pid) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
      const argv = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).split("\0");
      if (argv.some((arg) => arg.includes(text))) found.push({ pid: Number(entry.name), argv });
    } catch {
      // gone while we looked
    }
  }
  return found;
}

/** The processes of a module-graph check with cache `cache`: `deno info` and its wrappers. */
export function graphChecksIn(cache: string): { pid: number; argv: string[] }[] {
  return processesNaming(cache).filter((p) => p.argv.includes("info"));
}
