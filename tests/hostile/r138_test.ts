// Review 138: what a long-lived host keeps per start, stop and call. Deno keeps the answer to each
// permission query for the process's life, in a map keyed by the query's path, and plugbox asked
// about each plugin's own cgroup folders (named for the start) at its start, exit and stop: nine
// new keys a start, about 4.2 KB of the host's heap each time (400 starts and stops after 200
// others: +2.2 MB after a collection, 5.6 KB a cycle, against 0.9 KB a cycle, the JIT's warming,
// after the fix). The test counts the distinct queries, not bytes: none may be new after the first
// start. And a PluginHost's start of a name made the new plugin's closures in the scope that also
// held the plugin it replaced, so every plugin ever started under a name stayed reachable from the
// current one, with its last exit's stderr tail (400 starts and stops of one name: 2.6 KB a cycle
// with the first fix alone, 0.9 KB with both). The test asks whether a replaced plugin can be
// collected at all.
import assert from "node:assert/strict";
import v8 from "node:v8";
import vm from "node:vm";
import { PluginHost, startPlugin } from "../../mod.ts";
import { Calc } from "../fixtures/contracts.ts";
import { fixture } from "../_helpers.ts";

Deno.test("r138: starts and stops ask Deno no permission query the first start did not, which Deno keeps for good", async () => {
  const asked = new Set<string>();
  const sizes: number[] = [];
  const query = Deno.permissions.querySync;
  Deno.permissions.querySync = (desc: Deno.PermissionDescriptor) => {
    asked.add(JSON.stringify(desc));
    return query.call(Deno.permissions, desc);
  };
  try {
    for (let start = 0; start < 4; start++) {
      {
        await using plugin = await startPlugin(fixture("calc.ts"), {
          contracts: [Calc],
          isolation: "deno",
        });
        assert.equal(await plugin.api(Calc).add(1, 2), 3);
      }
      sizes.push(asked.size);
    }
  } finally {
    Deno.permissions.querySync = query;
  }
  // The starts had cgroups, which the host asked about: else this test would prove nothing here.
  assert.ok([...asked].some((desc) => desc.includes("/sys/fs/cgroup/")), [...asked].join("\n"));
  assert.deepEqual(sizes.slice(1), [sizes[0], sizes[0], sizes[0]], [...asked].join("\n"));
});

Deno.test("r138: a plugin a start of its name replaced is not kept by the host", async () => {
  v8.setFlagsFromString("--expose-gc");
  const gc = vm.runInNewContext("gc") as () => void;
  await using host = new PluginHost({ handleSignals: false });
  const refs: WeakRef<object>[] = [];
  for (let start = 0; start < 3; start++) {
    const managed = await host.start("p", fixture("calc.ts"), { contracts: [Calc] });
    assert.equal(await host.api("p", Calc).add(1, 2), 3);
    await host.stop("p");
    refs.push(new WeakRef(managed));
  }
  // A WeakRef's target is kept until the job that made or read it is over: collect on later turns.
  for (let turn = 0; turn < 3; turn++) {
    await new Promise((resolve) => setTimeout(resolve, 0));
    gc();
  }
  // The last is the host's (it lists it); the two it replaced are nobody's.
  assert.deepEqual(refs.map((ref) => ref.deref() !== undefined), [false, false, true]);
});
