// THREATS.md, the README's security model and tests/hostile/ agree row for
// row: the same classes, the same test files for each, and in each file the
// attack tried under every isolation next to a control.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

const repo = fileURLToPath(new URL("../", import.meta.url));

/** Rows of the first markdown table whose first cell is a T id: id -> test files named in it. */
function rows(markdown: string, testsColumn: (cells: string[]) => string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const line of markdown.split("\n")) {
    const cells = line.split("|").map((c) => c.trim());
    if (!/^T\d+$/.test(cells[1] ?? "")) continue;
    const files = [...testsColumn(cells).matchAll(/`(?:tests\/)?(hostile\/\w+_test\.ts)`/g)]
      .map((m) => m[1]);
    found.set(cells[1], [...new Set(files)].sort());
  }
  return found;
}

const threats = rows(Deno.readTextFileSync(join(repo, "THREATS.md")), (cells) => cells.at(-2)!);
const readme = rows(Deno.readTextFileSync(join(repo, "README.md")), (cells) => cells.at(-2)!);

/** The T ids a test name's prefix names: "T3/T4 [..." names T3 and T4. */
function idsOf(prefix: string): string[] {
  return prefix.split("/");
}

function hostileTests(
  file: string,
): { isolated: Set<string>; controls: Set<string>; all: Set<string> } {
  const text = Deno.readTextFileSync(join(repo, "tests", file));
  const isolated = new Set<string>();
  const controls = new Set<string>();
  const all = new Set<string>();
  for (
    const m of text.matchAll(
      /Deno\.test\(\s*[`"]((?:T\d+)(?:\/T\d+)*)( \[\$\{isolation\}\]| control|:)/g,
    )
  ) {
    for (const id of idsOf(m[1])) {
      all.add(id);
      if (m[2] === " control") controls.add(id);
      if (m[2].startsWith(" [")) isolated.add(id);
    }
  }
  return { isolated, controls, all };
}

Deno.test("THREATS.md and the README's security model list the same rows, with the same test files", () => {
  assert.ok(threats.size >= 23, `THREATS.md has ${threats.size} rows`);
  assert.deepEqual([...readme.keys()], [...threats.keys()], "the same rows, in the same order");
  for (const [id, files] of threats) {
    assert.ok(files.length > 0, `${id} names its tests`);
    assert.deepEqual(readme.get(id), files, `${id}: the README names the same test files`);
  }
});

Deno.test("every row is tested under each isolation, next to a control, in the files it names", () => {
  const ISOLATION_LOOP = /for \(const isolation of ISOLATIONS\)/;
  for (const [id, files] of threats) {
    let control = false;
    for (const file of files) {
      const text = Deno.readTextFileSync(join(repo, "tests", file));
      assert.match(text, ISOLATION_LOOP, `${file} runs its attacks under every layer (ISOLATIONS)`);
      const tests = hostileTests(file);
      assert.ok(tests.isolated.has(id), `${file} tries ${id} under each isolation`);
      control ||= tests.controls.has(id);
    }
    assert.ok(control, `${id} has a control that shows the attack without plugbox`);
    const plugins = [...Deno.readDirSync(join(repo, "tests", "hostile", "plugins"))]
      .filter((e) => e.name.startsWith(`${id.toLowerCase()}_`));
    assert.ok(plugins.length > 0, `an attacking plugin is named after ${id}`);
  }
});

Deno.test("every class tests/hostile/ tries is a row of THREATS.md", () => {
  for (const entry of Deno.readDirSync(join(repo, "tests", "hostile"))) {
    if (!entry.name.endsWith("_test.ts")) continue;
    for (const id of hostileTests(`hostile/${entry.name}`).all) {
      assert.ok(threats.has(id), `${entry.name} tests ${id}, which THREATS.md does not list`);
      assert.ok(
        threats.get(id)!.includes(`hostile/${entry.name}`),
        `THREATS.md's ${id} row names hostile/${entry.name}`,
      );
    }
  }
});
