// test runner: alone (it judges the host thread's CPU against a bound; a neighbour's starts on the
// same two cores add to it)
// Review 135: what a hostile plugin's invalid values cost the host under a schema that holds
// itself. Each attack test failed on the code it was written against (847f97b).
import assert from "node:assert/strict";
import { ProtocolError, startPlugin, ValidationError } from "../../mod.ts";
import type { ContractApi } from "../../contract.ts";
import { z } from "npm:zod@^4.1.0";
import { threadCpuMs } from "../_helpers.ts";
import { hostile } from "./_hostile.ts";
import { R135, type TreeNode } from "./plugins/r135_contract.ts";
import { carriesIssuesAround } from "../../runner/issue_cost.ts";

/** What `call` on r135_raw.ts settles with, and the host thread's CPU until then. */
async function ask(
  call: (api: ContractApi<typeof R135>) => Promise<unknown>,
): Promise<{ outcome: unknown; ms: number }> {
  await using plugin = await startPlugin(hostile("r135_raw.ts"), {
    contracts: [R135],
    isolation: "deno",
  });
  const api = plugin.api(R135, { timeout: 120_000 });
  const start = threadCpuMs({ settled: true });
  const outcome = await call(api).catch((error) => error);
  return { outcome, ms: threadCpuMs({ settled: true }) - start };
}

/** What the test says of an outcome that is no error. */
function shown(outcome: unknown): string {
  return outcome instanceof Error ? outcome.message : `a result (${typeof outcome})`;
}

/** The nodes of a tree. */
function count(node: TreeNode): number {
  return 1 + node.children.reduce((sum, child) => sum + count(child), 0);
}

// Zod stops at an array's first bad element, unless its issue is a check's (`.min(1)` here),
// which lets it go on: every empty tag is an issue, and each is carried up through every
// container above it, its path lengthened at each and, the schema holding itself, copied whole
// and kept at each. 30 nodes deep, 40,000 empty tags (121 KB) held the host's thread 2 s and took
// its heap to 1.7 GiB; 120,000 (361 KB), 9 s and 3.7 GiB, near the heap's limit. Now a value
// whose members lie that deep in that number is refused before zod sees it.
Deno.test("r135: a deep tree whose bottom node's tags each fail their check is refused before zod carries the issues up", async () => {
  const { outcome, ms } = await ask((api) => api.chain(30, 40_000));
  assert.ok(outcome instanceof ValidationError, `${shown(outcome)} after ${Math.round(ms)} ms`);
  assert.match(outcome.message, /too deep for its schema to check/);
  assert.ok(ms < 1000, `${Math.round(ms)} ms of the host's thread`);
});

// A record checks every entry, whatever fails: a trie 60 keys deep whose last key leads to 40,000
// numbers, each no record (430 KB), held the host's thread 1.9 s, as the tree did.
Deno.test("r135: a deep trie whose last record's entries each fail is refused before zod carries the issues up", async () => {
  const { outcome, ms } = await ask((api) => api.trie(60, 40_000));
  assert.ok(outcome instanceof ValidationError, `${shown(outcome)} after ${Math.round(ms)} ms`);
  assert.match(outcome.message, /too deep for its schema to check/);
  assert.ok(ms < 1000, `${Math.round(ms)} ms of the host's thread`);
});

// A progress report that fails its check reaches no listener and counts as work for nothing, by
// eight times its size; but a failed check costs far more than its size. Reports of a tree 7 nodes
// deep with 21,000 empty tags at its bottom (63 KB, a depth zod checks), 30 a second within every
// rate, held 35% of the host's thread for as long as they came (3.7 s in 10.5 s), and no fault.
// Now an invalid report weighs what its check took, and the plugin is faulty after 0.3 to 0.5 s of
// the host's thread.
Deno.test("r135: progress reports whose check fails at every place are weighed by what the check took", async () => {
  const { outcome, ms } = await ask((api) => api.watch.with({ onProgress: () => {} })(8000));
  assert.ok(outcome instanceof ProtocolError, `${shown(outcome)} after ${Math.round(ms)} ms`);
  assert.match(outcome.message, /protocol faults/);
});

// The controls: honest trees pass whole, a bushy one of 37,449 nodes (1.5 MB) and a binary one 13
// levels down (16,383 nodes), whose bottom nodes' tags lie 28 containers deep.
Deno.test("r135: honest trees, bushy or deep, pass whole", async () => {
  const { outcome } = await ask((api) => api.bushy(5, 8));
  assert.equal(count(outcome as TreeNode), 37_449, shown(outcome));
  const { outcome: deep } = await ask((api) => api.bushy(13, 2));
  assert.equal(count(deep as TreeNode), 16_383, shown(deep));
});

// A discriminated union hands on its option's issues as they are; so does a union of options, of
// the one option that did not stop at the value's type (review 139: z.json() among them).
Deno.test("r135: only a loop that carries issues around counts", () => {
  assert.equal(carriesIssuesAround(z.json()), true);
  assert.equal(carriesIssuesAround(z.array(z.record(z.string(), z.string().min(1)))), false);
  const Tagged: z.ZodType = z.discriminatedUnion("kind", [
    z.object({ kind: z.literal("leaf"), tags: z.array(z.string().min(1)) }),
    z.object({ kind: z.literal("node"), children: z.array(z.lazy(() => Tagged)) }),
  ]);
  assert.equal(carriesIssuesAround(Tagged), true);
  const Got: z.ZodType = z.object({
    name: z.string(),
    get children() {
      return z.array(Got);
    },
  });
  assert.equal(carriesIssuesAround(Got), true);
});
