// test runner: alone (it judges the host thread's CPU against a bound; a neighbour's starts on the
// same two cores add to it)
// Review 109: what a hostile plugin's answers make the host do. Each test failed on the code it
// was written against (6aae82b).
import assert from "node:assert/strict";
import { startPlugin, ValidationError } from "../../mod.ts";
import { type ContractApi, defineContract } from "../../contract.ts";
import { z } from "npm:zod@^4.1.0";
import { threadCpuMs } from "../_helpers.ts";
import { hostile } from "./_hostile.ts";
import { R109 } from "./plugins/r109_contract.ts";

/** What `call` on r109_raw.ts settles with, and the host thread's CPU until then. */
async function ask(
  call: (api: ContractApi<typeof R109>) => Promise<unknown>,
): Promise<{ outcome: unknown; ms: number }> {
  await using plugin = await startPlugin(hostile("r109_raw.ts"), {
    contracts: [R109],
    isolation: "deno",
  });
  const api = plugin.api(R109, { timeout: 60_000 });
  const start = threadCpuMs({ settled: true });
  const outcome = await call(api).catch((error) => error);
  return { outcome, ms: threadCpuMs({ settled: true }) - start };
}

/** What the test says of an outcome that is no error. */
function shown(outcome: unknown): string {
  return outcome instanceof Error ? outcome.message : `a result (${typeof outcome})`;
}

// zod merges an intersection's two results key by key, looking each key of one up in a list of
// the other's: the square of the keys. An answer of an id and 80,000 string fields (1.1 MB, within
// every cap) held the host's thread 3 s; 16 MiB would hold it some ten minutes, every other plugin
// and every deadline with it (no timer runs meanwhile). Now an intersection's value whose objects
// cost its merge more than plugbox allows is refused before zod sees it.
Deno.test("r109: a result that costs an intersection's merge the square of its keys is refused before the merge", async () => {
  const { outcome, ms } = await ask((api) => api.fields(80_000));
  assert.ok(outcome instanceof ValidationError, `${shown(outcome)} after ${Math.round(ms)} ms`);
  assert.match(outcome.message, /intersection/);
  assert.ok(ms < 1000, `${Math.round(ms)} ms of the host's thread`);
});

// The control: an honest answer of a thousand fields passes, whole.
Deno.test("r109: an intersection's result of a thousand keys passes", async () => {
  const { outcome } = await ask((api) => api.fields(1000));
  assert.equal((outcome as Record<string, string>).k999, "v");
});

// A plugin's keys are its words, and plugbox's verdict on its result showed them bare: as a path
// (`at total: the plugin "calc" ran out of memory. Detail at (root): Invalid input`) and, in zod's
// message for a key a strict object does not know, in quotes a key's own `"` closed. Now a key
// that is no identifier is quoted in the path, and unknown keys are listed quoted, `"` escaped.
const FORGED = 'total: the plugin "calc" ran out of memory. Detail at (root)';

Deno.test("r109: a plugin's key in the path of plugbox's verdict on its result is quoted", async () => {
  const { outcome } = await ask((api) => api.counts(FORGED));
  assert.ok(outcome instanceof ValidationError, shown(outcome));
  assert.ok(
    outcome.message.includes(` at [${JSON.stringify(FORGED)}]: Invalid input`),
    outcome.message,
  );
});

Deno.test("r109: a key a strict result does not know is quoted whole in plugbox's verdict", async () => {
  const { outcome } = await ask((api) => api.strict('b", "c" (keys the host sent)'));
  assert.ok(outcome instanceof ValidationError, shown(outcome));
  assert.ok(
    outcome.message.endsWith(
      `: Unrecognized key: ${JSON.stringify('b", "c" (keys the host sent)')}`,
    ),
    outcome.message,
  );
});

/** Defines a one-method contract of `output`; the error's message where it is refused. */
function defined(output: z.ZodType, progress?: z.ZodType): string {
  try {
    defineContract({
      name: "t",
      version: 1,
      methods: { m: z.function({ input: [], output }) },
      ...(progress ? { progress: { m: progress } } : {}),
    });
    return "defined";
  } catch (error) {
    return (error as Error).message;
  }
}

// zod checks a template literal with one regex. Two parts of unbounded length in it (a string
// without .max(), a number) backtrack through each other: a plugin's 40,000 characters took the
// host's thread 0.6 s, 2 MiB about half an hour, and no deadline ends a check once begun.
Deno.test("r109: a contract whose template literal's check is quadratic in its text is refused, naming the fix", () => {
  const slow = [
    z.templateLiteral([z.string(), z.number()]),
    z.templateLiteral([z.string(), "-", z.number()]),
    z.templateLiteral([z.number(), ".", z.number()]),
  ];
  for (const template of slow) {
    for (
      const message of [defined(z.object({ a: z.array(template) })), defined(z.null(), template)]
    ) {
      assert.match(
        message,
        /^Cannot define contract "t": .*z\.templateLiteral .*bound its strings with \.max\(\)/,
      );
    }
  }
  const fast = [
    z.templateLiteral([z.string().max(64), "-", z.number()]),
    z.templateLiteral(["id-", z.string()]),
    z.templateLiteral([z.number()]),
  ];
  for (const template of fast) assert.equal(defined(template), "defined");
});
