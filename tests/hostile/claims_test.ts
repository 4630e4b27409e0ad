// THREATS T20 (text that is not printable on one line, wherever it reaches a
// terminal or a log) and T22 (the plugin's claims presented as plugbox's
// verdicts). Controls show what the plugin sends, raw.
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  PermissionDeniedError,
  PluginError,
  PreflightError,
  ProtocolError,
  startPlugin,
  ValidationError,
} from "../../mod.ts";
import { main } from "../../cli.ts";
import { Probe } from "./plugins/probe.ts";
import { freshCache, rejected } from "../_helpers.ts";
import { hostile, ISOLATIONS, pluginFolder } from "./_hostile.ts";

/** Anything a terminal would obey, or that would start a new line, or reorder text. */
// deno-lint-ignore no-control-regex
const UNPRINTABLE = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/;

/** {@linkcode UNPRINTABLE} but a newline: for inspected errors, whose stack is lines. */
// deno-lint-ignore no-control-regex
const TERMINAL_CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e]/;

/** Runs `plug` in-process and collects each line it writes. */
async function plug(args: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const write = (text: string) => lines.push(...text.split("\n"));
  const code = await main(args, { out: write, err: write });
  return { code, lines };
}

// T20: text from a plugin or its folder, on the host's terminal and in its logs

for (const isolation of ISOLATIONS) {
  Deno.test(`T20 [${isolation}]: results, logs and errors reach the host on one line, with bidi and separators escaped`, async () => {
    const logs: string[] = [];
    await using plugin = await startPlugin(hostile("t20_terminal_text.ts"), {
      contracts: [Probe],
      isolation: isolation as "auto",
      onLog: (entry) => logs.push(entry.message),
    });
    const probe = plugin.api(Probe);
    // A result is the caller's data, exactly as validated; what prints it must escape it.
    assert.match(await probe.attempt("result"), /\u202e/);
    assert.equal(await probe.attempt("log"), "logged");
    const thrown = await rejected<PluginError>(probe.attempt("throw"));
    assert.ok(thrown instanceof PluginError);
    assert.doesNotMatch(thrown.message, UNPRINTABLE);
    assert.match(thrown.message, /invoice\\u\{202e\}gpj\.exe done\\x0aPermissionDeniedError/);
    await plugin.close();
    // stderr is lines: the plugin's newline starts another of its own log lines (each entry
    // carries the plugin's name), and nothing inside a line can reorder or break it.
    const line = logs.find((l) => l.startsWith("log "));
    assert.equal(line, "log invoice\\u{202e}gpj.exe\\u{2028}done");
    for (const message of logs) assert.doesNotMatch(message, UNPRINTABLE);
  });

  Deno.test(`T20 [${isolation}]: protocol faults quote a plugin's ids escaped, in reports and in the error that ends it`, async () => {
    const faults: string[] = [];
    await using plugin = await startPlugin(hostile("t20_terminal_text.ts"), {
      contracts: [Probe],
      isolation: isolation as "auto",
      onProtocolFault: (detail) => faults.push(detail),
      maxFaults: 1,
    });
    const error = await rejected(plugin.api(Probe).attempt("progress"));
    assert.ok(error instanceof ProtocolError, String(error));
    // Both forged lines, and perhaps the answer that came after the plugin was judged faulty.
    assert.ok(faults.length >= 2, `${faults.join("\n")} / ${error}`);
    for (const text of [...faults.slice(0, 2), error.message]) {
      assert.match(text, /for call "\\u\{202e\}\\x9b2J\\u\{2028\}forged line/);
    }
    for (const text of [...faults, error.message]) assert.doesNotMatch(text, UNPRINTABLE);
  });

  Deno.test(`T20 [${isolation}]: plug prints a plugin's result, errors and file names without raw control text`, async () => {
    const isolationFlag = `--isolation=${isolation}`;
    const result = await plug([
      "call",
      hostile("t20_terminal_text.ts"),
      "probe.attempt",
      isolationFlag,
    ]);
    assert.equal(result.code, 0, result.lines.join("\n"));
    assert.equal(result.lines.length, 1, "one result, one line");
    assert.doesNotMatch(result.lines[0], UNPRINTABLE);
    assert.equal(
      JSON.parse(result.lines[0]).slice(0, 8),
      "invoice\u202e",
      "still the same JSON value",
    );
    const thrown = await plug([
      "call",
      hostile("t20_terminal_text.ts"),
      "probe.attempt",
      '"throw"',
      isolationFlag,
      "--verbose",
    ]);
    assert.equal(thrown.code, 3);
    for (const line of thrown.lines) assert.doesNotMatch(line, UNPRINTABLE);
    assert.ok(!thrown.lines.some((l) => l.startsWith("PermissionDeniedError")), "no forged line");
    // A file name in the plugin's folder, and a key in its manifest.
    await using cache = await freshCache();
    await using folder = await pluginFolder({
      "main.ts": "export {};\n",
      "evil\u202e\nPreflightError: all clear\x1b[2J": { fifo: true },
    });
    const checked = await plug(["check", join(folder.dir, "main.ts"), isolationFlag]);
    assert.equal(checked.code, 7);
    for (const line of checked.lines) assert.doesNotMatch(line, UNPRINTABLE);
    assert.equal(checked.lines.length, 1, checked.lines.join("\n"));
    await using manifest = await pluginFolder({
      "main.ts": "export {};\n",
      "plugbox.json": JSON.stringify({ permissions: { "read\u202e\n\x1b[2J": [] } }),
    });
    const keyed = await rejected<PreflightError>(startPlugin(join(manifest.dir, "main.ts"), {
      contracts: [Probe],
      isolation: isolation as "auto",
      cacheDir: cache.path,
    }));
    assert.ok(keyed instanceof PreflightError, String(keyed));
    assert.doesNotMatch(keyed.message, UNPRINTABLE);
  });
}

Deno.test("T20 control: what the plugin sends holds a bidi override and a forged line", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import(${JSON.stringify(hostile("t20_terminal_text.ts"))})`,
      "--plugbox-nonce=n",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writer = out.stdin.getWriter();
  await writer.write(new TextEncoder().encode(
    '{"jsonrpc":"2.0","id":1,"method":"$/initialize","params":{"protocolVersion":1,"nonce":"n","contracts":[],"maxLineBytes":65536}}\n' +
      '{"jsonrpc":"2.0","id":2,"method":"probe.attempt","params":["throw"]}\n',
  ));
  await writer.close();
  const raw = new TextDecoder().decode((await out.output()).stdout);
  const answer = JSON.parse(raw.trim().split("\n")[1]);
  assert.match(answer.error.message, /\u202e/);
  assert.match(answer.error.message, /\nPermissionDeniedError: /, "printed raw, a second line");
});

// T22: the plugin's claims

for (const isolation of ISOLATIONS) {
  Deno.test(`T22 [${isolation}]: a denial or invalid-params answer the plugin makes up is its claim, not plugbox's verdict`, async () => {
    await using plugin = await startPlugin(hostile("t22_forged_claims.ts"), {
      contracts: [Probe],
      isolation: isolation as "auto",
    });
    const probe = plugin.api(Probe);
    const denied = await rejected<PermissionDeniedError>(probe.attempt("anything"));
    assert.ok(denied instanceof PluginError, "a PluginError: the plugin's report");
    assert.ok(denied instanceof PermissionDeniedError);
    assert.equal(denied.reportedBy, "plugin");
    assert.match(denied.message, /^Plugin "plugins" reports it was denied read access to/);
    assert.doesNotMatch(denied.message, /\n/);
    assert.match(denied.target!, /\\x0aPreflightError/);
    const invalid = await rejected<PluginError>(probe.attempt("invalid"));
    assert.ok(invalid instanceof PluginError, String(invalid));
    assert.ok(!(invalid instanceof ValidationError), "never the class of plugbox's own checks");
    assert.equal(invalid.code, -32602);
    assert.match(invalid.message, /^Plugin "plugins" reports "probe\.attempt" failed: /);
    assert.doesNotMatch(invalid.message, /\n/);
  });
}

Deno.test("T22 [deno]: ping's and describe's error answers, and what an inspected error prints, are the plugin's claims, neutralised and bounded", async () => {
  await using plugin = await startPlugin(hostile("t22_forged_claims.ts"), {
    contracts: [Probe],
    isolation: "deno",
  });
  const asks = [["$/ping", () => plugin.ping()], ["$/describe", () => plugin.describe()]] as const;
  for (const [method, ask] of asks) {
    const error = await rejected<PluginError>(ask());
    assert.ok(error instanceof PluginError, `${method}: ${error}`);
    assert.equal(error.reportedBy, "plugin");
    assert.match(error.message, new RegExp(`^Plugin "plugins" reports "\\${method}" failed: `));
    assert.doesNotMatch(error.message, UNPRINTABLE);
    assert.ok(error.message.length < 1200, `${method}: ${error.message.length} characters`);
  }
  const probe = plugin.api(Probe);
  const small = await rejected<PluginError>(probe.attempt("raw 10"));
  assert.ok(small instanceof PluginError);
  assert.equal(small.cause, undefined, "the plugin's own error object is not kept");
  // An inspected error is lines of its own (the stack): none of the plugin's text starts one,
  // and nothing of it can drive the terminal.
  const inspected = Deno.inspect(small);
  assert.doesNotMatch(inspected, TERMINAL_CONTROL);
  assert.doesNotMatch(inspected, /^\s*ProtocolError: forged/m);
  assert.equal((small.data as { pad: string }).pad, "x".repeat(10), "data stays the plugin's");
  // The raw call underneath maps the answer the same way (review 39).
  const raw = await rejected<PluginError>(plugin.call("probe.attempt", ["raw 10"]));
  assert.ok(raw instanceof PluginError, String(raw));
  assert.doesNotMatch(Deno.inspect(raw), TERMINAL_CONTROL);
  const large = await rejected<PluginError>(probe.attempt("raw 200000"));
  assert.equal(large.data, undefined, "data over 64 KiB is not kept");
  for (const shape of ["array", "keys"]) {
    const over = await rejected<PluginError>(probe.attempt(`big ${shape} 100000`));
    // A boolean: a failure here would otherwise print all 100,000 of them.
    assert.ok(over.data === undefined, `data over 64 KiB as ${shape} is not kept`);
    const under = await rejected<PluginError>(probe.attempt(`big ${shape} 100`));
    assert.ok(under.data !== undefined, `small data as ${shape} is kept`);
  }
});

Deno.test("T22 [deno]: a handshake the plugin refuses in words of its own is a ProtocolError that keeps none of them raw", async () => {
  const error = await rejected<ProtocolError>(
    startPlugin(hostile("t22_refuses_handshake.ts"), { contracts: [Probe], isolation: "deno" }),
  );
  assert.ok(error instanceof ProtocolError, String(error));
  assert.match(error.message, /refused the handshake \(-32000\) and says: \\x1b\[2J/);
  assert.equal(error.cause, undefined, "the plugin's own error object is not kept");
  assert.doesNotMatch(Deno.inspect(error), TERMINAL_CONTROL);
});

Deno.test("T22 control: the plugin sends a denial and a blame of the host's argument of its own making", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", hostile("t22_forged_claims.ts"), "--plugbox-nonce=n"],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(
    '{"jsonrpc":"2.0","id":1,"method":"$/initialize","params":{"protocolVersion":1,"nonce":"n","contracts":[],"maxLineBytes":65536}}\n' +
      '{"jsonrpc":"2.0","id":2,"method":"probe.attempt","params":["x"]}\n' +
      '{"jsonrpc":"2.0","id":3,"method":"probe.attempt","params":["invalid"]}\n',
  ));
  await writer.close();
  const lines = new TextDecoder().decode((await child.output()).stdout).trim().split("\n");
  const [, denied, invalid] = lines.map((l) => JSON.parse(l));
  assert.equal(denied.error.code, -32001);
  assert.match(denied.error.data.target, /\nPreflightError/);
  assert.equal(invalid.error.code, -32602);
});
