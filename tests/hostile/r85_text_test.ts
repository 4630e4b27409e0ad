// deno-lint-ignore-file no-control-regex -- the tests look for control characters on purpose
/**
 * Review 85: what a plugin says that the host shows, stores or acts on,
 * outside the call results themselves.
 * @module
 */

import assert from "node:assert/strict";
import { type LogEntry, PluginExitedError, startPlugin } from "../../mod.ts";
import { MAX_STDERR_LINE } from "../../runner/host/stderr.ts";
import { Probe } from "./plugins/probe.ts";
import { hostile } from "./_hostile.ts";
import { main } from "../../cli.ts";
import { deniedReads, suggestCost } from "./_r85_suggest.ts";

const UNSAFE = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

// The stderr line's path to the snapshot is shown as the plugin's own folder (userPaths): the
// folder's name is the plugin's author's, so it must arrive escaped like the rest of the line.
Deno.test("review 85 [deno]: a folder's name shown in place of the snapshot in a stderr line is neutralised", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-r85-" }));
  try {
    const folder = `${dir}/ev\n(plugbox: forged)\x1b]0;pwned\x07\u202e/hello`;
    await Deno.mkdir(folder, { recursive: true });
    await Deno.copyFile(hostile("r85_names_its_folder.ts"), `${folder}/main.ts`);
    await Deno.copyFile(hostile("probe.ts"), `${folder}/probe.ts`);
    const entries: LogEntry[] = [];
    await using plugin = await startPlugin(`${folder}/main.ts`, {
      contracts: [Probe],
      isolation: "deno",
      onLog: (entry) => entries.push(entry),
    });
    const error = await plugin.api(Probe).attempt().catch((e) => e);
    assert.ok(error instanceof PluginExitedError, String(error));
    await plugin.close();
    const said = entries.filter((e) => e.message.includes("running in"));
    assert.equal(said.length, 1, JSON.stringify(entries));
    assert.ok(!UNSAFE.test(said[0].message), JSON.stringify(said[0].message));
    assert.ok(error.stderrTail.includes("running in"), error.stderrTail);
    assert.ok(
      !UNSAFE.test(error.stderrTail.replaceAll("\n", " ")),
      JSON.stringify(error.stderrTail),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** `plug <args>` in this process: its exit code and the lines it wrote. */
async function plugHere(args: string[]) {
  const lines: string[] = [];
  const code = await main(args, {
    out: (line) => lines.push(line),
    err: (line) => lines.push(line),
  });
  return { code, lines };
}

// plug call quotes what the plugin serves up to 2,000 characters; plug audit and plug call
// --audit quoted all of it: 4,096 names of 64 characters in one line of half a megabyte.
Deno.test("review 85 [deno]: plug audit's unknown method quotes what the plugin serves bounded, as plug call does", async () => {
  for (const command of [["call"], ["audit"], ["call", "--audit"]]) {
    const run = await plugHere([
      command[0],
      hostile("r85_serves_many.ts"),
      "nothere.atall",
      "--isolation=deno",
      ...command.slice(1),
    ]);
    assert.equal(run.code, 2, run.lines.join("\n").slice(0, 500));
    const longest = Math.max(...run.lines.map((line) => line.length));
    assert.ok(longest < 4000, `${command.join(" ")}: a line of ${longest} characters`);
  }
});

// A described schema is the plugin's text: plug inspect printed it whole with --json (one
// description of 8 MiB, one line of 8 MiB), where the text view shows 300 characters of it.
Deno.test("review 85 [deno]: plug inspect --json names a huge described schema by its size, not whole", async () => {
  for (const json of [[], ["--json"]]) {
    const run = await plugHere([
      "inspect",
      hostile("r85_describes_huge.ts"),
      "--isolation=deno",
      ...json,
    ]);
    assert.equal(run.code, 0, run.lines.join("\n").slice(0, 500));
    const longest = Math.max(...run.lines.map((line) => line.length));
    assert.ok(longest < 64 * 1024, `inspect ${json.join(" ")}: a line of ${longest} characters`);
    assert.ok(run.lines.some((line) => line.includes("probe")), run.lines.join("\n"));
  }
});

// A stderr line was cut at 8 KiB before it was escaped: 8,192 control bytes became 32,768
// characters in onLog and in the stderr tail, which shows "about 4 KiB" (README, Limits).
Deno.test("review 85 [deno]: a stderr line of characters that escape long stays within the line cap in onLog and the stderr tail", async () => {
  const entries: LogEntry[] = [];
  await using plugin = await startPlugin(hostile("r85_stderr_escapes.ts"), {
    contracts: [Probe],
    isolation: "deno",
    onLog: (entry) => entries.push(entry),
  });
  const error = await plugin.api(Probe).attempt().catch((e) => e);
  assert.ok(error instanceof PluginExitedError, String(error));
  await plugin.close();
  assert.equal(entries.length, 2, JSON.stringify(entries.map((e) => e.message.length)));
  const cap = MAX_STDERR_LINE + 100;
  for (const entry of entries) assert.ok(entry.message.length <= cap, `${entry.message.length}`);
  assert.ok(error.stderrTail.length <= cap, `a tail of ${error.stderrTail.length}`);
});

// plug audit writes a value neutralised (a control character is four characters), and plug
// suggest read values of at most 5,000: a plugin that read one path of 1,500 control characters
// made its own audit a report plug suggest refused whole.
Deno.test("review 85 [deno]: plug suggest reads every report plug audit writes, a value escaped long included", async () => {
  const dir = await Deno.makeTempDir({ prefix: "plugbox-r85-" });
  try {
    const audit = await plugHere([
      "audit",
      hostile("r85_poisons_audit.ts"),
      "probe.attempt",
      "--isolation=deno",
      "--json",
    ]);
    assert.equal(audit.code, 0, audit.lines.join("\n").slice(0, 500));
    const report = JSON.parse(audit.lines.join("\n"));
    const longest = Math.max(...report.audit.entries.map((e: { value: string }) => e.value.length));
    assert.ok(longest > 5000, `the longest value is ${longest} characters`);
    await Deno.writeTextFile(`${dir}/audit.json`, audit.lines.join("\n"));
    const suggest = await plugHere(["suggest", `${dir}/audit.json`]);
    assert.equal(suggest.code, 0, suggest.lines.join("\n").slice(0, 500));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// Each suggested path was checked against every other: 16,000 distinct files a plugin read took
// 24 s of the host's thread, and the million entries a report may hold would take hours.
Deno.test("review 85: suggestManifest() judges which paths hold others in time about linear in their number", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-r85-" }));
  try {
    for (let i = 0; i < 16_000; i++) Deno.writeTextFileSync(`${dir}/f${i}`, "");
    suggestCost(deniedReads(dir, 1000)); // warm
    const small = suggestCost(deniedReads(dir, 4000));
    const large = suggestCost(deniedReads(dir, 16_000));
    assert.equal(small.suggested, 4000);
    assert.equal(large.suggested, 16_000);
    // Four times the paths: about four times the work when linear, sixteen when quadratic.
    assert.ok(
      large.ms < 8 * Math.max(small.ms, 50),
      `4,000 paths: ${small.ms} ms, 16,000: ${large.ms} ms`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
