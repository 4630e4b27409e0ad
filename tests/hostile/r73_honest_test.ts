// Review 73's tests of an honest plugin under the capability share, and of killNow's cgroup kill:
// they judge no CPU against a bound, so they run beside other files (r73_test.ts, which does, runs
// alone).
import assert from "node:assert/strict";
import { join } from "node:path";
import { ProtocolError } from "../../mod.ts";
import { killCgroupsNow } from "../../runner/sandbox/mod.ts";
import { alive, busy, testDeadline, until } from "../_helpers.ts";
import { R73 } from "./plugins/r73_contract.ts";
import { startR73 } from "./_r73.ts";

/** The honest plugin (SDK only), its `store` costing this thread `workMs` ms each. */
function startHonest(workMs: number, faults: string[]) {
  return startR73("r73_honest.ts", { onProtocolFault: (detail) => faults.push(detail) }, {
    store: (_key, value) => {
      busy(workMs); // the host's store
      return value.length;
    },
  });
}

Deno.test("r73: an honest plugin's calls within the 320 the handshake allows are answered, not refused, while its share is spent", async () => {
  const faults: string[] = [];
  await using plugin = await startHonest(1, faults);
  const api = plugin.api(R73, { timeout: 30_000 });
  // The first batch spends the 100 ms burst; the second arrives with nothing left: the host holds
  // 256 calls for the share, and refuses the other 64 "overloaded" though no call is in progress.
  assert.equal(await api.attempt("burst:320:10"), "stored 320");
  assert.equal(await api.attempt("burst:320:10"), "stored 320");
  assert.deepEqual(faults, []);
});

Deno.test("r73: an honest plugin whose host calls time out while its calls wait for the share is not ended as faulty", async () => {
  testDeadline(60_000);
  const faults: string[] = [];
  await using plugin = await startHonest(1, faults);
  // Each call stores 250 values of 60 KB (a sync's uploads); the host gives it 200 ms. The SDK
  // cancels the calls it made for it; those waiting for the share are answered "cancelled", each
  // counted as work for nothing by its 60 KB: 4 faults a timed-out call. At a share of 1 the same
  // 60 calls time out 60 times and make no fault.
  const api = plugin.api(R73, { timeout: 200 });
  const outcomes: Record<string, number> = {};
  for (let i = 0; i < 40 && !plugin.exitStatus; i++) {
    const said = await api.attempt("burst:250:60000").then(
      (answer) => answer.split(" ")[0],
      (error) => error instanceof ProtocolError ? "ended as faulty" : error.name,
    );
    outcomes[said] = (outcomes[said] ?? 0) + 1;
  }
  assert.equal(
    outcomes["ended as faulty"],
    undefined,
    `${JSON.stringify(outcomes)}; ${faults.length} faults, the last: ${faults.at(-1)}`,
  );
});

Deno.test("r73: killNow's kill of what the plugin's cgroups hold goes on past a process that ended between its read and its kill", async () => {
  // cgroup.procs is read once; the plugin's tree, SIGKILLed just before, is dying meanwhile. A pid
  // listed and reaped before its turn made Deno.kill throw ESRCH, and the catch around the whole
  // list left every pid after it alive: the orphan the kill is for among them. A cgroup folder
  // as killCgroupsNow reads it: the pid of a process reaped already, then a live one.
  const dir = await Deno.makeTempDir({ prefix: "r73-cgroup-" });
  const ended = new Deno.Command("true").spawn();
  await ended.status;
  const live = new Deno.Command("sleep", { args: ["60"] }).spawn();
  try {
    await Deno.writeTextFile(join(dir, "cgroup.procs"), `${ended.pid}\n${live.pid}\n`);
    const cgroup = { dir, version: 2 as const, quotaUs: 100_000, periodUs: 100_000 };
    killCgroupsNow({ share: 1, rate: "cgroup-v2", cgroup });
    // Its SIGKILL, if sent, is the kernel's at once: only its reaping is left.
    await until(
      () => !alive(live.pid),
      2_000,
      "the live process listed after the ended one to die",
    );
  } finally {
    try {
      live.kill("SIGKILL");
    } catch { /* killed */ }
    await live.status;
    await Deno.remove(dir, { recursive: true });
  }
});
