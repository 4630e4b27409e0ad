/**
 * Figures from outside Deno, where the machine can build them: go-plugin's
 * (bench/goplugin, built offline from Debian's Go packages) and the pipe
 * limit (a C ping-pong over blocking pipes, on one CPU and across two).
 * Each returns undefined, with the reason, where its tools are missing.
 * @module
 */

import { join } from "node:path";

/** go-plugin's figures: start to first call (ms), p50/p99 (ms), calls/s with 64 callers, private MiB. */
export type GoFigures = Record<"start" | "p50" | "p99" | "rate" | "privateMiB", number>;

async function run(command: string, args: string[], env?: Record<string, string>, cwd?: string) {
  try {
    const out = await new Deno.Command(command, {
      args,
      env,
      cwd,
      stdout: "piped",
      stderr: "piped",
    })
      .output();
    const text = new TextDecoder().decode(out.success ? out.stdout : out.stderr);
    return { ok: out.success, text };
  } catch (error) {
    return { ok: false, text: String(error) };
  }
}

/**
 * Builds the go-plugin bench into `dir` (kept between runs, with Go's
 * build cache, so a rebuild is incremental); a reason string where it cannot.
 */
export async function buildGoPlugin(dir: string): Promise<string | { binary: string }> {
  await Deno.mkdir(dir, { recursive: true });
  const binary = join(dir, "goplugin-greeter");
  const source = new URL("./goplugin/", import.meta.url).pathname;
  // GOPATH mode over Debian's packaged sources: no network, no module proxy.
  const built = await run("go", ["build", "-o", binary, "."], {
    GOPATH: Deno.env.get("GOPATH") ?? "/usr/share/gocode",
    GO111MODULE: "off",
    GOPROXY: "off",
    GOFLAGS: "",
    GOCACHE: join(dir, "gocache"),
    HOME: dir,
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
  }, source);
  if (!built.ok) {
    return `go-plugin not built (go and golang-github-hashicorp-go-plugin-dev with golang-google-grpc-dev are needed): ${
      built.text.trim().split("\n")[0]
    }`;
  }
  return { binary };
}

/** One run of the go-plugin bench: its figures. */
export async function goPluginRound(binary: string, calls: number): Promise<GoFigures> {
  const out = await run(binary, [String(calls)]);
  if (!out.ok) throw new Error(`go-plugin bench failed: ${out.text}`);
  return JSON.parse(out.text.trim().split("\n").at(-1)!);
}

const PING_PONG = `#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <time.h>
#define _GNU_SOURCE
#include <sched.h>
static void pin(int cpu) { cpu_set_t s; CPU_ZERO(&s); CPU_SET(cpu, &s); sched_setaffinity(0, sizeof s, &s); }
int main(int argc, char **argv) {
  int n = atoi(argv[1]), a = atoi(argv[2]), b = atoi(argv[3]);
  int up[2], down[2]; char c = 'x';
  if (pipe(up) || pipe(down)) return 1;
  if (fork() == 0) {
    close(down[1]); close(up[0]); pin(b);
    while (read(down[0], &c, 1) == 1) write(up[1], &c, 1);
    return 0;
  }
  close(down[0]); close(up[1]); pin(a);
  struct timespec t0, t1; clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < n; i++) { write(down[1], &c, 1); read(up[0], &c, 1); }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("%f\\n", ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / n / 1000.0);
  close(down[1]);
  return 0;
}
`;

/** The pipe's round trip in µs, same CPU and across CPUs; a reason string where cc is missing. */
export async function pipeLimit(
  dir: string,
  n: number,
): Promise<string | { same: number; across: number }> {
  const source = join(dir, "ping_pong.c");
  const binary = join(dir, "ping_pong");
  await Deno.writeTextFile(source, `#define _GNU_SOURCE\n${PING_PONG}`);
  const built = await run("cc", ["-O2", "-o", binary, source]);
  if (!built.ok) return `pipe limit not measured (no C compiler): ${built.text.split("\n")[0]}`;
  const cpus = navigator.hardwareConcurrency;
  const same = await run(binary, [String(n), "0", "0"]);
  const across = await run(binary, [String(n), "0", String(Math.min(1, cpus - 1))]);
  return { same: Number(same.text), across: Number(across.text) };
}
