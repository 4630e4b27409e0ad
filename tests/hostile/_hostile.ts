/**
 * Helpers for the hostile suite: the isolation modes every attack is tried
 * under, plain `deno run` (to show an attack works without plugbox), local
 * servers that record what reaches them, and process inspection.
 * @module
 */

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { until, within } from "../_helpers.ts";
import { findControllers } from "../../runner/sandbox/cgroup_probe.ts";
import { fileURLToPath } from "node:url";

/**
 * Every attack must fail under each layer this machine supports. `"auto"` is not a layer of
 * its own: it picks one of these (bubblewrap here), which tests/sandbox/isolation_test.ts
 * checks; running every attack under it again would only repeat the `"os"` runs.
 */
export const ISOLATIONS = ["deno", "os", "landlock"] as const;

/** Where hostile plugins read their secrets from (matches plugins/probe.ts). */
export const SECRET_DIR = "/tmp/plugbox-hostile";

/** Path of a hostile plugin. */
export function hostile(name: string): string {
  return fileURLToPath(new URL(`./plugins/${name}`, import.meta.url));
}

const repoConfig = fileURLToPath(new URL("../../deno.json", import.meta.url));

/** Writes the secrets the attacks go after; idempotent. */
export async function plantSecrets(): Promise<void> {
  await Deno.mkdir(SECRET_DIR, { recursive: true });
  await Deno.writeTextFile(join(SECRET_DIR, "secret.txt"), "TOP-SECRET-TEXT\nsecond line\n");
  await Deno.writeTextFile(
    join(SECRET_DIR, "secret.json"),
    JSON.stringify({ password: "TOP-SECRET-JSON" }),
  );
  // No extension: Deno parses it as JavaScript, and the SyntaxError quotes its first line.
  await Deno.writeTextFile(join(SECRET_DIR, "secret"), "TOP-SECRET-TEXT in a config file\n");
  // A configuration module, the kind of file a link in a plugin folder would point at.
  await Deno.writeTextFile(
    join(SECRET_DIR, "secret.js"),
    'export default "TOP-SECRET-TEXT from a module";\n',
  );
  // A source map whose "sources" name shows up in a stack trace (T14).
  await Deno.writeTextFile(
    join(SECRET_DIR, "map.json"),
    JSON.stringify({ version: 3, sources: ["TOP-SECRET-SOURCE"], names: [], mappings: "AAAA" }),
  );
  await Deno.writeTextFile(join(SECRET_DIR, "worker.js"), 'postMessage("TOP-SECRET-WORKER");\n');
  await Deno.mkdir(join(SECRET_DIR, "config"), { recursive: true });
  await Deno.writeTextFile(
    join(SECRET_DIR, "config", "secret_link.js"),
    'export default "TOP-SECRET-TEXT via a linked folder";\n',
  );
}

/** What a plain run printed. */
export interface PlainResult {
  code: number;
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `deno run --no-prompt` on a file, without plugbox: the control that
 * shows an attack works when the mitigation is absent. `config: true` lets
 * it resolve the SDK through this repo's deno.json.
 */
export async function plainRun(
  file: string,
  options: {
    flags?: string[];
    args?: string[];
    env?: Record<string, string>;
    cwd?: string;
    config?: boolean;
    prefix?: string[];
    timeoutMs?: number;
    subcommand?: string;
  } = {},
): Promise<PlainResult> {
  const deno = Deno.execPath();
  const denoArgs = [
    options.subcommand ?? "run",
    ...(options.subcommand === "info" ? [] : ["--no-prompt"]),
    // The repository's config, never its lock file: a control that imports from a local
    // server would otherwise record that server's random port in deno.lock.
    ...(options.config ? ["--config", repoConfig, "--no-lock"] : []),
    ...(options.flags ?? []),
    file,
    ...(options.args ?? []),
  ];
  const [command, ...args] = [...(options.prefix ?? []), deno, ...denoArgs];
  const child = new Deno.Command(command, {
    args,
    cwd: options.cwd,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }, options.timeoutMs ?? 30_000);
  try {
    const out = await child.output();
    const decoder = new TextDecoder();
    return {
      code: out.code,
      signal: out.signal,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}

/** A TCP server on 127.0.0.1 that records the first line of every request and answers "ok". */
export interface RecordingServer extends AsyncDisposable {
  port: number;
  /** First line of each request, e.g. `GET /left-pad HTTP/1.1` or `CONNECT esm.sh:443 HTTP/1.1`. */
  requests: string[];
}

/** Starts a {@linkcode RecordingServer}. */
export function recordingServer(hostname = "127.0.0.1", port = 0): RecordingServer {
  const listener = Deno.listen({ hostname, port });
  const requests: string[] = [];
  const connections = new Set<Deno.Conn>();
  const serving = (async () => {
    for await (const conn of listener) {
      connections.add(conn);
      (async () => {
        try {
          const buffer = new Uint8Array(8192);
          const n = await conn.read(buffer);
          requests.push(new TextDecoder().decode(buffer.subarray(0, n ?? 0)).split("\r\n")[0]);
          await conn.write(
            new TextEncoder().encode(
              "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
            ),
          );
        } catch {
          // the client went away
        } finally {
          connections.delete(conn);
          try {
            conn.close();
          } catch {
            // already closed
          }
        }
      })();
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    requests,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of connections) {
        try {
          conn.close();
        } catch {
          // already closed
        }
      }
      await serving.catch(() => {});
    },
  };
}

/** An empty, temporary folder, removed on dispose (a fresh DENO_DIR or HOME for a control run). */
export async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "plugbox-control-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** A free TCP port on 127.0.0.1 (bound, then released). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Live (not zombie) processes whose command line contains `needle`. */
export function processesWith(needle: string): number[] {
  const found: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
      if (!cmdline.includes(needle)) continue;
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
      if (state !== "Z") found.push(Number(entry.name));
    } catch {
      // exited while we looked
    }
  }
  return found;
}

/** Live (not zombie) children of process `parent`. */
export function childrenOf(parent: number): number[] {
  const found: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const [state, ppid] = procStat(Number(entry.name));
      if (Number(ppid) === parent && state !== "Z") found.push(Number(entry.name));
    } catch {
      // gone while we looked
    }
  }
  return found;
}

/** Fields of /proc/<pid>/stat after the command name: [state, ppid, pgrp, session, tty_nr, ...]. */
export function procStat(pid: number): string[] {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** A temporary plugin folder holding `files` (text, or a link/FIFO/hard-link spec). */
export async function pluginFolder(
  files: Record<string, string | { symlink: string } | { hardlink: string } | { fifo: true }>,
): Promise<{ dir: string } & AsyncDisposable> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-hostile-" }));
  for (const [name, spec] of Object.entries(files)) {
    const path = join(dir, name);
    if (typeof spec === "string") await Deno.writeTextFile(path, spec);
    else if ("symlink" in spec) await Deno.symlink(spec.symlink, path);
    else if ("hardlink" in spec) await Deno.link(spec.hardlink, path);
    else {
      const made = await new Deno.Command("mkfifo", { args: [path] }).output();
      if (!made.success) throw new Error(`mkfifo ${path} failed`);
    }
  }
  return { dir, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

/** The Deno process of a running plugin (inside the sandbox, under the OS layer), found by its nonce. */
export function pluginDenoPid(nonce: string): number {
  const deno = Deno.realPathSync(Deno.execPath());
  const pids = processesWith(nonce).filter((pid) => {
    const argv0 = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0")[0];
    return argv0 === deno || argv0 === Deno.execPath();
  });
  if (pids.length !== 1) {
    throw new Error(`Expected one Deno process with nonce ${nonce}, found ${pids}`);
  }
  return pids[0];
}

/** True when process `pid` holds a listening TCP socket (in its own network namespace). */
export function isListening(pid: number): boolean {
  const listening = new Set<string>();
  for (const table of ["tcp", "tcp6"]) {
    let text = "";
    try {
      text = Deno.readTextFileSync(`/proc/${pid}/net/${table}`);
    } catch {
      continue;
    }
    for (const row of text.trim().split("\n").slice(1)) {
      const cols = row.trim().split(/\s+/);
      if (cols[3] === "0A") listening.add(cols[9]);
    }
  }
  for (const fd of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      const target = Deno.readLinkSync(`/proc/${pid}/fd/${fd.name}`);
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode && listening.has(inode)) return true;
    } catch {
      // closed meanwhile
    }
  }
  return false;
}

/** Fields of /proc/<pid>/status, by name (`Uid`, `CapEff`, `NoNewPrivs`, ...). */
export function procStatus(pid: number): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of Deno.readTextFileSync(`/proc/${pid}/status`).split("\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1).trim();
  }
  return fields;
}

/** The nice value of process `pid` (field 19 of /proc/<pid>/stat). */
export function niceOf(pid: number): number {
  return Number(procStat(pid)[16]);
}

/**
 * Watches every process whose command line holds all of `needles` and
 * records the largest peak resident size (VmHWM) seen, in MiB, until the
 * returned `stop()` is called. Polls /proc every 5 ms.
 */
export function peakMemory(
  needles: string[],
): { stop(): Promise<number>; peak(): number; seen: Set<number> } {
  let peakKiB = 0;
  let running = true;
  const seen = new Set<number>();
  const poll = (async () => {
    while (running) {
      for (const entry of Deno.readDirSync("/proc")) {
        if (!/^\d+$/.test(entry.name)) continue;
        try {
          const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
          if (!needles.every((n) => cmdline.includes(n))) continue;
          const hwm = /VmHWM:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${entry.name}/status`));
          if (hwm) {
            seen.add(Number(entry.name));
            peakKiB = Math.max(peakKiB, Number(hwm[1]));
          }
        } catch {
          // gone while we looked
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  return {
    seen,
    /** The peak so far, in MiB. */
    peak: () => peakKiB / 1024,
    async stop() {
      running = false;
      await poll;
      return peakKiB / 1024;
    },
  };
}

/** A FIFO at `path` and a writer blocked opening it, released only by a reader's open. */
export function blockedWriter(path: string): Deno.ChildProcess {
  new Deno.Command("mkfifo", { args: [path] }).outputSync();
  return new Deno.Command("sh", {
    args: ["-c", 'echo released > "$1"', "sh", path],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

/** What the writer wrote, read by a reader's open of its FIFO: it was still blocked until now. */
export async function stillBlocked(path: string, writer: Deno.ChildProcess): Promise<string> {
  const text = await Deno.readTextFile(path);
  await writer.status;
  return text;
}

/** A seeded random source in [0, 1) (mulberry32): a randomized test's round replays by its seed. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `pid` and every live descendant of it (zombies left out). */
export function treeOf(pid: number): number[] {
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const next = queue.shift()!;
    try {
      if (procStat(next)[0] === "Z") continue;
    } catch {
      continue;
    }
    found.push(next);
    queue.push(...childrenOf(next));
  }
  return found;
}

/**
 * Removes the cgroup folder `top` and every folder under it, deepest first, each within `ms` (a
 * cgroup's folder goes once its last task has): what a test's limited cgroup and the plugins a
 * host made in it leave.
 */
export async function removeCgroupTree(top: string, ms: number): Promise<void> {
  const all: string[] = [];
  const walk = (dir: string) => {
    for (const entry of Deno.readDirSync(dir)) {
      if (entry.isDirectory) walk(join(dir, entry.name));
    }
    all.push(dir);
  };
  walk(top);
  for (const dir of all) {
    await until(
      () => {
        try {
          Deno.removeSync(dir);
          return true;
        } catch {
          return false;
        }
      },
      ms,
      `the test's cgroup ${dir} removed`,
    );
  }
}

/**
 * A pids cgroup of the test's beside plugbox's folder, named `<tag>-<random>`, limited to `limit`,
 * `levels` deep (`inner` the deepest); it and everything a host made in it removed at dispose,
 * each folder within `removeMs`.
 */
export async function limitedPidsCgroup(tag: string, limit: number, levels = 1, removeMs = 10_000) {
  assert.equal(Deno.uid(), 0, "plugbox makes pids cgroups as root; CI runs as root");
  const base = (await findControllers("sh"))?.pids;
  assert.ok(base, "a pids controller plugbox may use");
  const top = join(dirname(base), `${tag}-${crypto.randomUUID().slice(0, 8)}`);
  const dirs = [top];
  for (let i = 1; i < levels; i++) dirs.push(join(dirs[i - 1], `level${i}`));
  for (const dir of dirs) Deno.mkdirSync(dir);
  Deno.writeTextFileSync(join(top, "pids.max"), String(limit));
  return {
    path: top,
    inner: dirs.at(-1)!,
    [Symbol.asyncDispose]: () => removeCgroupTree(top, removeMs),
  };
}

const KERNEL_HOST = fileURLToPath(new URL("./_r164_kernel_host.ts", import.meta.url));

/** Runs review 164's host of the r164_kernel plugin (OS layer) with `attempts`; its JSON line. */
export async function kernelHost(...attempts: string[]) {
  const { code, stdout, stderr } = await within(
    new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", KERNEL_HOST, ...attempts],
      stdout: "piped",
      stderr: "piped",
    }).output(),
    60_000,
    "the host",
  );
  const text = new TextDecoder().decode(stdout);
  assert.equal(code, 0, text + new TextDecoder().decode(stderr));
  return JSON.parse(text.trim().split("\n").at(-1)!) as {
    said: string[];
    watched: string;
    spawned: string;
    host: Record<string, string>;
  };
}

/** The folders plugbox makes cgroups in here, for every controller it uses (a root host's). */
export async function cgroupBases(): Promise<string[]> {
  assert.equal(Deno.uid(), 0, "plugbox makes cgroups as root; CI runs as root");
  const found = await findControllers("/bin/sh");
  assert.ok(found?.memory && found.pids, "a root host has memory and pids controllers");
  return [found.cpu.base, found.memory, found.pids, found.cpuacct]
    .filter((base): base is string => base !== undefined);
}

/**
 * Host `pid`'s cgroups in `bases` whose name holds `part` (a plugin's name), and the plugin's own
 * inside each (the memory cgroup beside the egress relay).
 */
export function cgroupsNamed(bases: string[], pid: number, part: string): string[] {
  const found: string[] = [];
  for (const base of bases) {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(base)];
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue; // not made (yet)
      throw error;
    }
    for (const entry of entries) {
      if (!entry.name.startsWith(`plugbox-${pid}-`) || !entry.name.includes(part)) continue;
      found.push(join(base, entry.name));
      try {
        for (const inner of Deno.readDirSync(join(base, entry.name))) {
          if (inner.isDirectory) found.push(join(base, entry.name, inner.name));
        }
      } catch {
        // gone meanwhile
      }
    }
  }
  return found;
}

/**
 * `deno run <flags> <module> <args>` started in cgroup `dir` (written to its `cgroup.procs` by the
 * shell before the exec), so that its plugins' budget of tasks is that cgroup's.
 */
export function hostInCgroup(
  dir: string,
  module: string,
  args: string[],
  options: { flags?: string[]; stdin?: "null" | "piped"; env?: Record<string, string> } = {},
): Deno.ChildProcess {
  return new Deno.Command("/bin/sh", {
    args: [
      "-c",
      'echo $$ > "$1/cgroup.procs" && shift && exec "$@"',
      "sh",
      dir,
      Deno.execPath(),
      "run",
      ...(options.flags ?? ["--allow-all"]),
      module,
      ...args,
    ],
    stdin: options.stdin ?? "null",
    stdout: "piped",
    stderr: "piped",
    env: options.env,
  }).spawn();
}

const CLI = fileURLToPath(new URL("../../cli.ts", import.meta.url));

/**
 * `plug` run as a user runs it (read, write, env and run granted; no stdin), in `cwd` with `env`
 * when given: its exit code and both outputs.
 */
export async function plugRun(
  args: string[],
  cwd?: string,
  env?: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-env", "--allow-run", CLI, ...args],
    cwd,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}
