// test runner: alone (it judges the host thread's CPU against a bound; a neighbour's starts on the
// same two cores add to it)
// Review 139, attack on reviews 135 to 137's fixes. Each attack test failed on the code it was
// written against (a7ada0e).
import assert from "node:assert/strict";
import { startPlugin, ValidationError } from "../../mod.ts";
import type { ContractApi } from "../../contract.ts";
import { z } from "npm:zod@^4.1.0";
import { threadCpuMs } from "../_helpers.ts";
import { hostile } from "./_hostile.ts";
import { R139, writtenOut } from "./plugins/r139_contract.ts";
import { carriesIssuesAround } from "../../runner/issue_cost.ts";
import { admitLaunch, type GrantHolder } from "../../runner/sandbox/grant_rules.ts";
import { join } from "node:path";
import { assertBelowCodeJudged, mountOutcomes } from "./_mount_outcomes.ts";

/** What `call` on r139_raw.ts settles with, and the host thread's CPU until then. */
async function ask(
  call: (api: ContractApi<typeof R139>) => Promise<unknown>,
): Promise<{ outcome: unknown; ms: number }> {
  await using plugin = await startPlugin(hostile("r139_raw.ts"), {
    contracts: [R139],
    isolation: "deno",
  });
  const api = plugin.api(R139, { timeout: 120_000 });
  const start = threadCpuMs({ settled: true });
  const outcome = await call(api).catch((error) => error);
  return { outcome, ms: threadCpuMs({ settled: true }) - start };
}

/** What the test says of an outcome that is no error. */
function shown(outcome: unknown): string {
  return outcome instanceof Error ? outcome.message : `a result (${typeof outcome})`;
}

// Review 135 counted no loop through a union of options, taking its options' failures to be said
// as one issue; but zod hands on the issues of the one option that did not stop at the value's
// type (a string option stops at an object), as they are. A tree of `z.union([z.string(), node])`
// 30 nodes deep with 120,000 empty tags at its bottom (361 KB) held the host's thread 23.5 s and
// took its heap to 3.3 GiB; 40,000 (121 KB), 3.6 s and 1.4 GiB. Now such a loop counts.
Deno.test("r139: a deep tree under a schema that holds itself through a union is refused before zod carries the issues up", async () => {
  const { outcome, ms } = await ask((api) => api.union(30, 40_000));
  assert.ok(outcome instanceof ValidationError, `${shown(outcome)} after ${Math.round(ms)} ms`);
  assert.match(outcome.message, /too deep for its schema to check/);
  assert.ok(ms < 1000, `${Math.round(ms)} ms of the host's thread`);
});

// A schema written out as deep costs zod the same time, holding nothing of itself: 30 levels of
// nodes with 120,000 empty tags at the bottom, 9 s of the host's thread; 40,000, 1.2 s. Now a
// schema whose containers nest past the free depth counts as one that holds itself.
Deno.test("r139: a deep tree under a schema written out 30 levels deep is refused before zod carries the issues up", async () => {
  const { outcome, ms } = await ask((api) => api.written(30, 40_000));
  assert.ok(outcome instanceof ValidationError, `${shown(outcome)} after ${Math.round(ms)} ms`);
  assert.match(outcome.message, /too deep for its schema to check/);
  assert.ok(ms < 1000, `${Math.round(ms)} ms of the host's thread`);
});

// The controls: honest binary trees 12 levels deep (4,095 nodes) pass whole under both.
Deno.test("r139: honest trees pass whole under a union that holds itself and a schema written out", async () => {
  const { outcome } = await ask((api) => api.union(-12, 0));
  assert.equal(JSON.stringify(outcome).match(/"n"/g)?.length, 4095, shown(outcome));
  const { outcome: written } = await ask((api) => api.written(-12, 0));
  assert.equal(JSON.stringify(written).match(/"n"/g)?.length, 4095, shown(written));
});

// The bound is the free depth, counted in containers (objects, arrays, records, tuples, maps and
// sets): 7 written levels above the bottom node nest 16 (object and array each), 8 nest 18. A schema met twice
// apart (not within itself) is no loop.
Deno.test("r139: a schema counts by how deep its containers nest, and a shared one is no loop", () => {
  assert.equal(carriesIssuesAround(writtenOut(7)), false);
  assert.equal(carriesIssuesAround(writtenOut(8)), true);
  const tags = z.array(z.string().min(1));
  const shared = z.object({ a: tags, b: tags, c: z.tuple([tags, tags]) });
  assert.equal(carriesIssuesAround(z.object({ x: shared, y: shared })), false);
  const met = writtenOut(6); // 14 deep: within the free depth once, past it two arrays down
  assert.equal(carriesIssuesAround(z.object({ a: met, b: z.array(z.array(met)) })), true);
  const Loop: z.ZodType = z.union([z.number(), z.array(z.lazy(() => Loop))]);
  assert.equal(carriesIssuesAround(Loop), true);
});

// Review 137 compared a grant with code by device and inode up the grant's path too; but up the
// path of a second mount of a folder below the code's, the folders are the mount's own and those
// above it, none of them the code's folder. A write grant of a second mount of the cache's
// `snapshots` (code other plugins' next starts run unread), and of plugin b's own `data` folder
// for b, were granted. Now the mounts' own word places both paths in their file system; where the
// host may not read it, the folders up the path are still compared (review 137's second mount of
// a folder above the code).
Deno.test("r139: a grant through a second mount of a folder below code is judged as the folder it is", async () => {
  const results = await mountOutcomes(() => ["-A"]);
  assertBelowCodeJudged(results);
  assert.match(results.cache, /^Cannot grant write ".*\/a4\/cache": it overlaps ".*\/code\/cache/);
  // Nor by sh (review 141 reads them by sh where Deno refuses them).
  const unread = await mountOutcomes(() => [
    ...["-A", "--deny-read=/proc/self/mountinfo", "--deny-run=sh"],
  ]);
  assert.match(unread.cache, /^Cannot grant write ".*\/a4\/cache": it overlaps ".*\/code\/cache/);
});

/** A start under the OS layer from folder `root` that writes `write`, for admitLaunch. */
function writer(owner: string, root: string | undefined, write: string[]): GrantHolder {
  const grants = { read: [], write, run: [], ffi: [], all: false };
  return { kind: "deno", isolation: "os", grants, owner, root };
}

// Review 137 compared folders on disk too, by device and inode up each path, and each comparison
// looked every folder up again, on the host's thread: with 500 folders recorded (a host of a few
// hundred plugins), one start's 5 write grants took 212 ms of lstat calls, 2,000 folders 864 ms,
// against 1 and 5 ms by spelling; 200 folders, some 24,000 calls. Now a start's check looks each
// folder up once. Last in this file: the 200 starts stay recorded in its process.
Deno.test("r139: a start's check looks each folder on disk up once, however many are recorded", () => {
  const dir = Deno.makeTempDirSync({ prefix: "plugbox-r139-" });
  const lstat = Deno.lstatSync;
  try {
    for (let i = 0; i < 200; i++) {
      const [code, data] = ["code", "data"].map((name) =>
        join(dir, `team${i % 10}`, `p${i}`, name)
      );
      for (const folder of [code, data]) Deno.mkdirSync(folder, { recursive: true });
      admitLaunch(writer(`r139-${i}`, code, [data]));
    }
    const grants = [0, 1, 2, 3, 4].map((j) => join(dir, "new", `g${j}`, "a"));
    for (const grant of grants) Deno.mkdirSync(grant, { recursive: true });
    let calls = 0;
    (Deno as { lstatSync: typeof Deno.lstatSync }).lstatSync = (path) => {
      calls++;
      return lstat(path);
    };
    admitLaunch(writer("r139-new", undefined, grants));
    // 400 folders and their 210 parents, the grants' 12 folders and the few above the test's: 630.
    // Looked up again at each comparison, 20,000; once in each grant's, 3,100.
    assert.ok(calls < 1000, `${calls} lstat calls`);
  } finally {
    (Deno as { lstatSync: typeof Deno.lstatSync }).lstatSync = lstat;
    Deno.removeSync(dir, { recursive: true });
  }
});
