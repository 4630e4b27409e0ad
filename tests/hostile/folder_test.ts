// deno-lint-ignore-file no-control-regex -- these tests look for control characters on purpose
// The plugin's folder, attacking the host before any process starts: every
// walk of it, every read of its files and every message quoting it is
// bounded by cost. `plug check` (and so `plug inspect`, which plans the same
// way) meets the same bounds as `startPlugin`.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PreflightError, previewStart } from "../../mod.ts";
import { fixture, rejected, within } from "../_helpers.ts";
import { ISOLATIONS, pluginFolder } from "./_hostile.ts";

const BARE = await Deno.readTextFile(fixture("bare_echo.ts"));
const cli = fileURLToPath(new URL("../../cli.ts", import.meta.url));

/** Runs `args` as a Deno program with a deadline; a frozen one is killed. */
async function run(args: string[], timeoutMs = 120_000) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  try {
    const out = await child.output();
    const decoder = new TextDecoder();
    return { ...out, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
  } finally {
    clearTimeout(timer);
  }
}

// Every layer plans through the same walk; each is tried.
for (const isolation of ISOLATIONS) {
  Deno.test(`T2 [${isolation}]: a folder of 6,000 empty folders is refused at the entry cap, by previewStart and by plug check`, async () => {
    await using folder = await pluginFolder({ "main.ts": BARE });
    for (let i = 0; i < 6000; i++) await Deno.mkdir(join(folder.dir, `d${i}`));
    const main = join(folder.dir, "main.ts");
    const error = await rejected<PreflightError>(previewStart(main, { isolation }));
    assert.ok(error instanceof PreflightError, String(error));
    assert.equal(error.reason, "limits");
    assert.match(error.message, /holds more than 5000 entries \(files and folders\)/);
    const check = await run([cli, "check", main, `--isolation=${isolation}`]);
    assert.equal(check.code, 7, check.stdout + check.stderr);
    assert.match(check.stdout, /refused: the folder holds more than 5000 entries/);
  });
}

Deno.test("a manifest of a megabyte is refused by its size, unparsed", async () => {
  await using folder = await pluginFolder({
    "main.ts": BARE,
    "plugbox.json": JSON.stringify({ description: "x".repeat(1024 * 1024), permissions: {} }),
  });
  const error = await rejected<PreflightError>(previewStart(join(folder.dir, "main.ts")));
  assert.ok(error instanceof PreflightError, String(error));
  assert.match(error.message, /plugbox\.json" is \d+ bytes, over the 65536 allowed/);
});

Deno.test("a manifest nested 10,000 deep is refused by its depth, unparsed", async () => {
  const deep = "[".repeat(10_000) + "]".repeat(10_000);
  await using folder = await pluginFolder({
    "main.ts": BARE,
    "plugbox.json": `{"permissions":{"read":${deep}}}`,
  });
  const error = await rejected<PreflightError>(previewStart(join(folder.dir, "main.ts")));
  assert.ok(error instanceof PreflightError, String(error));
  assert.match(error.message, /plugbox\.json" is nested deeper than 8 levels/);
});

Deno.test("a manifest's own words reach the message neutralised", async () => {
  await using folder = await pluginFolder({
    "main.ts": BARE,
    "plugbox.json": JSON.stringify({ permissions: {}, ["\x1b]0;pwned\x07" + "k".repeat(5000)]: 1 }),
  });
  const error = await rejected<PreflightError>(previewStart(join(folder.dir, "main.ts")));
  assert.ok(!/[\x00-\x1f]/.test(error.message.replaceAll("\n", "")), error.message);
  assert.ok(error.message.length < 1000, `${error.message.length} characters`);
});

Deno.test("the preflight's error path reads adversarial file text in linear time", async () => {
  // `deno info` hangs on a FIFO outside the folder (Deno layer), so the preflight looks for
  // suspicious imports in the files: one of them is "import" and 2 MiB of spaces, which a
  // backtracking pattern like /import\s*\(?\s*["']/ takes hours over.
  const fifo = join(await Deno.makeTempDir({ prefix: "plugbox-fifo-" }), "pipe.js");
  const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
  assert.ok(made.success);
  await using folder = await pluginFolder({
    "main.ts": `import "./evil.ts";\nimport "file://${fifo}";\n`,
    "evil.ts": `// import${" ".repeat(2 * 1024 * 1024)}\nexport {};\n`,
  });
  try {
    const options = JSON.stringify({ isolation: "deno", preflightTimeout: 1000 });
    const planned = await within(
      run([fixture("plan_host.ts").pathname, join(folder.dir, "main.ts"), options]),
      150_000,
      "the plan",
    );
    const outcome = JSON.parse(planned.stdout || "{}");
    assert.equal(outcome.reason, "graph-failed", planned.stdout + planned.stderr);
    assert.match(
      outcome.message,
      /longer than 1000 ms .*suspicious imports: "file:\/\/.*pipe\.js"/,
    );
  } finally {
    await Deno.remove(join(fifo, ".."), { recursive: true });
  }
});
