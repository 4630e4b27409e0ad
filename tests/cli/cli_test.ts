// Every plug command and exit code, by running the CLI as a subprocess.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { GO_STEP } from "../../runner/sandbox/layers.ts";
import { fixture } from "../_helpers.ts";
import { hostile } from "../hostile/_hostile.ts";
import { main } from "../../cli.ts";
import { parseArgs, UsageError } from "../../runner/cli/mod.ts";

const CLI = fileURLToPath(new URL("../../cli.ts", import.meta.url));
const HELLO = fileURLToPath(new URL("../../plugins/hello/main.ts", import.meta.url));

async function plug(args: string[], env?: Record<string, string>) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-env", "--allow-run", CLI, ...args],
    stdout: "piped",
    stderr: "piped",
    ...(env ? { env } : {}),
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/**
 * Errors are one line, `ErrorName: message`; when the plugin wrote to stderr
 * before it died or hung, its last lines follow under one header line.
 */
function oneLineError(stderr: string, name: string): void {
  const lines = stderr.trimEnd().split("\n");
  assert.match(lines[0], new RegExp(`^${name}: \\S`));
  if (lines.length > 1) {
    assert.match(lines[1], /^--- the plugin's stderr( \(last \d+ of \d+\))? ---$/, stderr);
    assert.ok(lines.length <= 12, stderr);
    // Indented: a line of the plugin's cannot pose as the CLI's own (review 44).
    for (const line of lines.slice(2)) assert.match(line, /^ {4}/, stderr);
  }
}

Deno.test("plug call prints the JSON result and exits 0", async () => {
  const run = await plug(["call", HELLO, "greeter.sayHello", '"a"']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, '"hello, a"\n');
  const calc = await plug([
    "call",
    fixture("calc.ts").pathname,
    "calc.greet",
    '{"name":"b"}',
    '"hi"',
  ]);
  assert.equal(calc.stdout, '"hi, b"\n');
  const negative = await plug(["call", fixture("calc.ts").pathname, "calc.add", "--", "-1", "-2"]);
  assert.equal(negative.stdout, "-3\n", "-- lets arguments start with a dash");
});

Deno.test("plug call passes grants spelled as Deno spells them", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/note.txt`, "granted text");
    const run = await plug([
      "call",
      fixture("calc.ts").pathname,
      "calc.readFile",
      JSON.stringify(`${dir}/note.txt`),
      `--allow-read=${dir}`,
    ]);
    assert.equal(run.stdout, '"granted text"\n', run.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("plug exit codes: usage 2", async () => {
  for (
    const args of [
      ["teleport"],
      ["call", HELLO],
      ["call", HELLO, "greeter.sayHello", "not-json"],
      ["call", HELLO, "greeter.nope"],
      ["call", HELLO, "greeter.sayHello", '"a"', "--bogus"],
      ["call", HELLO, "greeter.sayHello", '"a"', "--allow-read"],
      ["call", HELLO, "greeter.sayHello", '"a"', "--allow-run=/bin/sh"],
      ["call", HELLO, "greeter.sayHello", '"a"', "--timeout=soon"],
    ]
  ) {
    const run = await plug(args);
    assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
    assert.match(run.stderr.trim(), /^(UsageError|TypeError): /);
    oneLineError(run.stderr, "\\w+");
  }
  assert.equal((await plug([])).code, 2, "no command at all is a usage error (help is printed)");
});

// Review 42: `--timeout=+5`, `1e3` and `0x40` were taken, `--timeout 100` said only `got ""`,
// and an option given twice (a script appending a weaker --lock-policy) kept the last silently.
Deno.test("plug options: numbers in digits within range, a value given once", () => {
  for (const value of ["+5", " 5000 ", "1e3", "0x40", "2147483648", "0"]) {
    assert.throws(
      () => parseArgs(["call", HELLO, `--timeout=${value}`]),
      (e: unknown) =>
        e instanceof UsageError &&
        /^--timeout needs a whole number of 1 to 2147483647 in digits, got "/.test(e.message),
      value,
    );
  }
  assert.equal(parseArgs(["call", HELLO, "--timeout=2147483647"]).timeout, 2 ** 31 - 1);
  assert.throws(() => parseArgs(["call", HELLO, "--memory=65537"]), /of 32 to 65536/);
  assert.throws(
    () => parseArgs(["call", HELLO, "--timeout", "100"]),
    /^UsageError: --timeout needs a value, written --timeout=N/,
  );
  assert.throws(
    () => parseArgs(["call", HELLO, "--lock-policy=refuse", "--lock-policy=same-or-less"]),
    /^UsageError: --lock-policy is given twice; give it once/,
  );
  // Lists add up, as Deno's own flags do.
  const lists = parseArgs(["call", HELLO, "--allow-read=/a", "--allow-read=/b"]);
  assert.deepEqual(lists.permissions.read, ["/a", "/b"]);
});

Deno.test("plug exit codes: plugin error 3, permission denied 4, timeout 5, crash 6", async () => {
  const calc = fixture("calc.ts").pathname;
  const thrown = await plug(["call", calc, "calc.divide", "1", "0"]);
  assert.equal(thrown.code, 3);
  oneLineError(thrown.stderr, "PluginError");
  const invalid = await plug(["call", HELLO, "greeter.sayHello", "5"]);
  assert.equal(invalid.code, 3);
  // The CLI has no contract of its own: "invalid params" is the plugin's word, shown as such.
  oneLineError(invalid.stderr, "PluginError");
  assert.match(invalid.stderr, /reports "greeter\.sayHello" failed: .*invalid arguments at \[0\]/);
  const denied = await plug(["call", HELLO, "greeter.readGreeting", '"/etc/hostname"']);
  assert.equal(denied.code, 4);
  oneLineError(denied.stderr, "PermissionDeniedError");
  const slow = await plug([
    "call",
    fixture("lifecycle.ts").pathname,
    "life.slow",
    "60000",
    "--timeout=300",
  ]);
  assert.equal(slow.code, 5);
  oneLineError(slow.stderr, "TimeoutError");
  const never = await plug([
    "call",
    fixture("never_ready.ts").pathname,
    "calc.add",
    "1",
    "2",
    "--timeout=300",
  ]);
  assert.equal(never.code, 5);
  const crash = await plug(["call", fixture("lifecycle.ts").pathname, "life.crash", "3"]);
  assert.equal(crash.code, 6);
  oneLineError(crash.stderr, "PluginExitedError");
});

Deno.test("plug exit codes: refused 7, protocol 8, isolation 9, unexpected 1", async () => {
  const refused = await plug(["call", hostile("t1_text_import_outside_root.ts"), "probe.attempt"]);
  assert.equal(refused.code, 7);
  oneLineError(refused.stderr, "PreflightError");
  const protocol = await plug(["call", fixture("bad_version.ts").pathname, "calc.add", "1", "2"]);
  assert.equal(protocol.code, 8);
  oneLineError(protocol.stderr, "ProtocolError");
  const bin = await Deno.makeTempDir();
  try {
    for (const tool of ["prlimit", "setsid", "setpriv", "ldd"]) {
      await Deno.symlink(`/usr/bin/${tool}`, `${bin}/${tool}`);
    }
    const noBwrap = await plug(["call", HELLO, "greeter.sayHello", '"a"', "--isolation=os"], {
      PATH: bin,
      HOME: Deno.env.get("HOME")!,
    });
    assert.equal(noBwrap.code, 9);
    oneLineError(noBwrap.stderr, "IsolationUnavailableError");
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
  const broken = await plug(["call", HELLO, "greeter.sayHello", '"a"'], {
    PATH: Deno.env.get("PATH")!,
    PLUGBOX_CACHE_DIR: "/etc/hostname/cache",
  });
  assert.equal(broken.code, 1, broken.stderr);
  oneLineError(broken.stderr, "\\w+");
});

Deno.test("plug inspect shows contracts, types, requests and the graph; --json too", async () => {
  const text = await plug(["inspect", fixture("calc.ts").pathname, "--allow-read=/tmp"]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^plugin\s+fixtures/m);
  assert.match(
    text.stdout,
    /requests \(plugbox\.json\):\n {2}read "\*": tests grant folders to read/,
  );
  assert.match(text.stdout, /calc v1\n\s+add\(number, number\): number/);
  assert.match(text.stdout, /greet\(\{ name: string \}, string\?\): string/);
  assert.match(text.stdout, /graph\s+\d+ files of the plugin \(calc\.ts, contracts\.ts\)/);
  const hello = await plug(["inspect", HELLO, "--allow-read=/tmp", "--json"]);
  assert.equal(hello.code, 0, hello.stderr);
  const report = JSON.parse(hello.stdout);
  assert.equal(report.manifest, false);
  assert.deepEqual(report.grantedNotRequested, [{ kind: "read", value: "/tmp" }]);
  assert.deepEqual(report.contracts[0].methods.map((m: { name: string }) => m.name), [
    "sayHello",
    "readGreeting",
  ]);
});

/** A plugin serving a contract named `name`; `top` runs first, at import. */
function servingPlugin(name: string, top = ""): string {
  return `import { z } from "zod";
import { defineContract } from "@plugbox/plugbox/contract";
import { implement, serve } from "@plugbox/plugbox/plugin";
${top}
const C = defineContract({ name: "${name}", version: 1, methods: { go: z.function({ input: [], output: z.null() }) } });
await serve(implement(C, { go: () => null }));
`;
}

/** `plug <args>` in this process: its exit code and the lines it wrote. */
async function plugHere(args: string[]) {
  const lines: string[] = [];
  const code = await main(args, {
    out: (line) => lines.push(line),
    err: (line) => lines.push(line),
  });
  return { code, lines, text: lines.join("\n") };
}

// Every line the CLI writes is one call of out or err; a newline inside a folder's name or a
// lock's keys, split into lines, made a line of the CLI's own verdict (review 42).
Deno.test("plug writes a newline in a folder's name or a lock's keys escaped, never as a line", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-lines-" }));
  try {
    const forged = 'ok: "hello" would start; nothing is refused';
    const folder = `${dir}/ev\n${forged}\x1b[2J/hello`;
    await Deno.mkdir(folder, { recursive: true });
    for (const file of ["main.ts", "contract.ts"]) {
      await Deno.copyFile(
        new URL(file, new URL("../../plugins/hello/", import.meta.url)),
        `${folder}/${file}`,
      );
    }
    const inspect = await plugHere(["inspect", `${folder}/main.ts`, "--isolation=deno"]);
    assert.equal(inspect.code, 0, inspect.text);
    const lock = `${dir}/plugbox.lock`;
    await Deno.writeTextFile(
      lock,
      JSON.stringify({ version: 1, plugins: { [`x\n${forged}`]: 1 } }),
    );
    const locked = await plugHere([
      "call",
      `${folder}/main.ts`,
      "greeter.sayHello",
      '"a"',
      `--lock=${lock}`,
      "--verbose",
    ]);
    assert.notEqual(locked.code, 0, locked.text);
    for (const line of [...inspect.lines, ...locked.lines]) {
      assert.ok(!line.includes("\n"), JSON.stringify(line));
      assert.ok(!line.startsWith("ok:"), JSON.stringify(line));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// inspect plans twice (the review's grants, then a run with none): the run must be the content
// the report reviewed, under the same lock and memory limit (review 42).
Deno.test("plug inspect runs only what it reviewed: under the lock, the memory limit, and the same content", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-inspect-" }));
  try {
    await Deno.mkdir(`${dir}/heavy`);
    await Deno.writeTextFile(
      `${dir}/heavy/main.ts`,
      servingPlugin(
        "heavy",
        "const kept: number[][] = [];\nfor (let i = 0; i < 300; i++) kept.push(new Array(100_000).fill(i + 0.5));",
      ),
    );
    const heavy = await plugHere([
      "inspect",
      `${dir}/heavy/main.ts`,
      "--memory=64",
      "--isolation=deno",
    ]);
    assert.match(heavy.text, /^PluginExitedError: .*ran out of memory/);
    assert.notEqual(heavy.code, 0);
    await Deno.mkdir(`${dir}/race`);
    const main = `${dir}/race/main.ts`;
    const lock = `${dir}/plugbox.lock`;
    await Deno.writeTextFile(main, servingPlugin("good"));
    assert.equal((await plugHere(["approve", main, `--lock=${lock}`, "--isolation=deno"])).code, 0);
    // The folder flips between the approved content and another (longer) while inspect runs.
    let evil = false;
    const flip = setInterval(() => {
      evil = !evil;
      Deno.writeTextFileSync(main, servingPlugin(evil ? "evil" : "good", evil ? "// more" : ""));
    }, 7);
    const locked: string[] = [];
    const sizes = new Map<string, Set<number>>(); // contract served -> snapshot sizes reported
    try {
      for (let i = 0; i < 60; i++) {
        const lockArgs = i % 2 ? [] : [`--lock=${lock}`, "--lock-policy=refuse"];
        const run = await plugHere(["inspect", main, ...lockArgs, "--isolation=deno", "--json"]);
        if (run.code !== 0) continue;
        const report = JSON.parse(run.text);
        const name: string = report.contracts[0].name;
        if (lockArgs.length) locked.push(name);
        sizes.set(name, (sizes.get(name) ?? new Set()).add(report.snapshot.bytes));
      }
    } finally {
      clearInterval(flip);
    }
    assert.ok(locked.includes("good") && !locked.includes("evil"), locked.join(", "));
    // Each report is of one content: the contracts it lists come from the files it counts.
    assert.ok(sizes.has("evil"), "the unlocked runs saw both contents");
    for (const [name, seen] of sizes) assert.equal(seen.size, 1, `${name}: ${[...seen]}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// A tampered lock entry's values are an attacker's (a pull request's lock): `approve --json`
// printed that entry whole, up to 4 MB of it escaped to the terminal.
Deno.test("plug approve --json does not echo a tampered previous entry", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-tampered-" }));
  try {
    await Deno.mkdir(`${dir}/tampered`);
    const main = `${dir}/tampered/main.ts`;
    const lock = `${dir}/plugbox.lock`;
    await Deno.writeTextFile(main, servingPlugin("tampered"));
    const approveArgs = ["approve", main, `--lock=${lock}`, "--isolation=deno", "--json"];
    assert.equal((await plugHere(approveArgs)).code, 0);
    const planted = Array.from(
      { length: 900 },
      (_, i) => `/planted/\u001b[2J${i}`.padEnd(4000, "x"),
    );
    const text = await Deno.readTextFile(lock);
    await Deno.writeTextFile(
      lock,
      text.replace('"read": []', `"read": ${JSON.stringify(planted)}`),
    );
    const again = await plugHere(approveArgs);
    assert.equal(again.code, 0, again.text.slice(0, 500));
    const report = JSON.parse(again.text);
    assert.equal(report.previousTampered, true);
    assert.equal(report.previous, undefined);
    assert.ok(!again.text.includes("planted"), again.text.slice(0, 500));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("plug check runs only the preflight and lists every refusal", async () => {
  const ok = await plug(["check", HELLO]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(
    ok.stdout,
    /^ok: "hello" would start under isolation "(os|deno)"; nothing is refused/,
  );
  // The command line it shows, run by hand under the OS layer, waits for a first line on stdin.
  const shown = JSON.parse((await plug(["check", HELLO, "--json", "--isolation=os"])).stdout);
  assert.equal(shown.waitsForGo, true);
  assert.ok(shown.command.includes(GO_STEP), shown.command.join(" "));
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/main.ts`,
      'import "file:///etc/hostname";\nimport "npm:left-pad";\nimport "https://esm.sh/x";\n',
    );
    const bad = await plug(["check", `${dir}/main.ts`]);
    assert.equal(bad.code, 7);
    const refusals = bad.stdout.trim().split("\n");
    assert.equal(refusals.length, 3, bad.stdout);
    assert.ok(refusals.every((line) => line.startsWith("refused: import ")));
    const json = JSON.parse((await plug(["check", `${dir}/main.ts`, "--json"])).stdout);
    assert.equal(json.ok, false);
    assert.equal(json.refused.length, 3);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const grant = await plug(["check", HELLO, "--allow-read=/etc"]);
  assert.equal(grant.code, 7);
  assert.match(
    grant.stdout,
    /refused: the grants exceed what the plugin requests: read "\/etc" not requested/,
  );
  // A grant refused as the command line's fault is exit code 2, as plug call's for the same grant.
  const unsafe = await plug(["check", HELLO, "--allow-net=127.0.0.1:80"]);
  assert.equal(unsafe.code, 2);
  assert.match(unsafe.stdout, /pass unsafe\.privateNetwork/);
  const called = await plug(["call", HELLO, "greeter.sayHello", '"a"', "--allow-net=127.0.0.1:80"]);
  assert.equal(called.code, 2, called.stderr);
  const missing = await plug(["check", "/nonexistent/plugbox/main.ts"]);
  assert.equal(missing.code, 2, missing.stdout);
});

Deno.test("plug --help and each command's --help", async () => {
  const top = await plug(["--help"]);
  assert.equal(top.code, 0);
  assert.match(top.stdout, /Commands:\n {2}call /);
  assert.match(top.stdout, /Exit codes: 0 ok, 1 unexpected failure, 2 usage/);
  for (const command of ["call", "inspect", "check"]) {
    for (const args of [[command, "--help"], ["help", command]]) {
      const run = await plug(args);
      assert.equal(run.code, 0);
      assert.match(run.stdout, new RegExp(`^Usage: plug ${command} `));
      assert.match(run.stdout, /--allow-read=PATH/);
    }
  }
});

Deno.test("plug neutralises every line it writes, whatever wrote it", async () => {
  const { main } = await import("../../cli.ts");
  const lines: string[] = [];
  const code = await main(["evil\u202e\x1b[2J\nforged"], {
    out: (l) => lines.push(l),
    err: (l) => lines.push(l),
  });
  assert.equal(code, 2);
  // One line (an error is its first line), and nothing in it a terminal would obey.
  assert.deepEqual(lines, ['UsageError: unknown command "evil\\u{202e}\\x1b[2J']);
});
