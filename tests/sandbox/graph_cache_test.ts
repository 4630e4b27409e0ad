import assert from "node:assert/strict";
import { type PreflightRun, verdictKey } from "../../runner/sandbox/graph_cache.ts";
import { HOST_CHECK } from "../../runner/sandbox/layers.ts";

function run(prefix: string[]): PreflightRun {
  return {
    name: "p",
    root: "/plugin",
    deno: Deno.execPath(),
    denoVersion: Deno.version.deno,
    snapshot: { hash: "h", entry: "/snap/main.ts" },
    sdk: { dir: "/sdk" },
    isolation: "deno",
    prefix,
    env: {},
    cacheDir: "/cache",
    timeoutMs: 1000,
  } as unknown as PreflightRun;
}

Deno.test("a graph verdict holds in every host process: the host check's pid is not part of its key", () => {
  const prefix = (pid: string, flag = "--no-new-privs") => [
    "/usr/bin/setpriv",
    "--pdeathsig",
    "KILL",
    flag,
    "--",
    "/usr/bin/sh",
    "-c",
    HOST_CHECK,
    "sh",
    pid,
  ];
  assert.equal(verdictKey(run(prefix("100"))), verdictKey(run(prefix("200"))));
  // Anything else in the wrapper still decides the key.
  assert.notEqual(verdictKey(run(prefix("100"))), verdictKey(run(prefix("100", "--other"))));
});
