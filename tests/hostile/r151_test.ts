// Review 151: the fixes of the hour before it (ff87ccb..2b0b5a5), attacked. Each test failed on the
// code it was written against (2b0b5a5).
import assert from "node:assert/strict";
import { hostFetch, ProtocolError, provide, startPlugin } from "../../mod.ts";
import { resolving } from "../../runner/host/egress_check.ts";
import { liveObjects } from "../_heap.ts";
import { hostile } from "./_hostile.ts";
import { R151 } from "./plugins/r151_contract.ts";

const SECRET = "db password=hunter2";

// Review 147 sent a capability's result as its schema's output (what it strips left out) unless
// the schema transforms. A check that rewrites its value (`.overwrite`, zod's own `.trim()` and
// `.toLowerCase()` too) is no transform to zod's walk, so the host sent the rewritten value and the
// plugin's SDK, checking it against its own copy of the contract, rewrote it again: an honest
// plugin whose host returned 3 units read 30,000 cents, not 300. A rewrite that gives back what it
// is given (a trimmed name trimmed again) still keeps what the schema strips on the host's side.
Deno.test("r151: a capability result whose schema rewrites it reaches the plugin rewritten once, and stripped", async () => {
  await using plugin = await startPlugin(hostile("r151_caps.ts"), {
    contracts: [R151],
    isolation: "deno",
    capabilities: [provide(R151, {
      bump: (units) => ({ cents: units }),
      row: (key) => ({ name: `  ${key}  `, passwordHash: SECRET }) as { name: string },
      site: (url) => url,
    })],
  });
  const api = plugin.api(R151);
  assert.equal(await api.ask("bump", 3), '{"cents":300}');
  assert.equal(await api.ask("row", "Ada"), '{"name":"ada"}');
});

// hostFetch drops a plugin name's lookups (a bounded resolver) once none runs, looked at when one of
// its requests ends. A lookup given up on at its 5 s deadline still runs (getaddrinfo cannot be
// cancelled), so the request that asked for it ended first and saw it running: once it settled, no
// request of that name came to look again, and the name's resolver stayed for the host's life, one
// for every name whose DNS answered slowly, what 017cff0 said goes by itself.
Deno.test("r151: a name's lookups go once its last lookup settles, after the request that gave up on it", async () => {
  // Its lookup answers only when told: it passes the deadline whatever its length. A short one
  // saves waiting out 5 s.
  const deadlineMs = resolving.deadlineMs;
  resolving.deadlineMs = 250;
  using _ = { [Symbol.dispose]: () => void (resolving.deadlineMs = deadlineMs) };
  let answer = (_: string[]) => {};
  const fetcher = hostFetch({
    allow: ["slow.invalid:80"],
    unsafe: { privateNetwork: true },
    resolve: () => new Promise((resolve) => answer = resolve),
  });
  const signal = new AbortController().signal;
  const before = liveObjects(["bounded"]).bounded;
  const refused = await fetcher({ method: "GET", url: "http://slow.invalid/" }, {
    plugin: "job",
    signal,
  })
    .then(() => "answered", (error: Error) => error.message);
  assert.match(refused, /took longer than 250 ms/);
  assert.equal(liveObjects(["bounded"]).bounded, before + 1, "the lookup still runs: kept");
  answer(["127.0.0.1"]);
  await new Promise((resolve) => setTimeout(resolve, 0)); // its settling's reactions
  assert.equal(liveObjects(["bounded"]).bounded, before, "settled: nothing of the name stays");
  assert.equal(fetcher.log("job").length, 1);
});

// Review 145 answered a capability call whose arguments made the host's own check throw (here a
// refinement's `new URL`, which throws on what is no URL) as the host's failure, told to
// onCapabilityError, and charged the plugin nothing for the arguments parsed for nothing, where
// arguments that fail the check are work for nothing by their size (review 57). An honest plugin
// never sends them (its SDK runs the same check first, and it throws there): a plugin's own copy of
// the contract does. 40 calls of 200 KB each were answered, and 40 more, for as long as it sent
// them; charged, they are over 15 faults' worth (a fault per 16,384 units, one per 256 bytes
// times 8), and a plugin with one fault allowed is ended.
Deno.test("r151: arguments that make the host's own check throw cost the plugin as arguments that fail it", async () => {
  const told: unknown[] = [];
  await using plugin = await startPlugin(hostile("r151_caps.ts"), {
    contracts: [R151],
    isolation: "deno",
    maxFaults: 1,
    onCapabilityError: (error) => told.push(error),
    capabilities: [provide(R151, {
      bump: (units) => ({ cents: units }),
      row: (key) => ({ name: key }),
      site: (url) => url,
    })],
  });
  const outcome = await plugin.api(R151).flood(40, 200_000).then((n) => n, (error) => error);
  assert.ok(outcome instanceof ProtocolError, `not ended: ${outcome} answered`);
  assert.match(outcome.message, /units of lines that did nothing/);
  assert.ok(told.length > 0 && told.every((error) => error instanceof TypeError), "each told");
});
