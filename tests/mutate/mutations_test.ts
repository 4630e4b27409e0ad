// The mutation list points at code by its exact text. Code that moved on left four entries
// pointing at nothing ("invalid" when run), so their mitigations went unchecked: every entry's
// text must be found exactly once, every test it names must exist, and every id used once.
import assert from "node:assert/strict";
import { MUTATIONS } from "./mutations.ts";

Deno.test("every mutation's text is found exactly once in its file, its tests exist, and its id is its own", async () => {
  const root = new URL("../../", import.meta.url);
  const stale: string[] = [];
  for (const mutation of MUTATIONS) {
    const text = await Deno.readTextFile(new URL(mutation.file, root));
    const found = text.split(mutation.search).length - 1;
    if (found !== 1) stale.push(`${mutation.id}: found ${found} times in ${mutation.file}`);
    // A test file renamed left an entry that ran no test ("invalid" when run).
    for (const test of mutation.tests) {
      const path = new URL(test, root);
      if (!(await Deno.stat(path).then(() => true, () => false))) {
        stale.push(`${mutation.id}: its test ${test} does not exist`);
      }
    }
  }
  assert.deepEqual(stale, []);
  const ids = MUTATIONS.map((m) => m.id);
  assert.deepEqual(ids.filter((id, i) => ids.indexOf(id) !== i), [], "ids used twice");
});
