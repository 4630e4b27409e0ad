import assert from "node:assert/strict";
import { PluginProcess } from "../../runner/host/process.ts";
import { within } from "../_helpers.ts";

function deno(code: string, lines: string[] = []): PluginProcess {
  return new PluginProcess(
    { command: Deno.execPath(), args: ["eval", code], env: { NO_COLOR: "1" }, cwd: Deno.cwd() },
    { onStderrLine: (line) => lines.push(line) },
  );
}

async function drainStdout(proc: PluginProcess): Promise<void> {
  for await (const _ of proc.stdout) {
    // discard
  }
}

Deno.test("PluginProcess.stop() ends a process that exits on stdin EOF as stopped", async () => {
  const proc = deno("for await (const _ of Deno.stdin.readable) {} console.error('bye');");
  const reading = drainStdout(proc);
  const status = await within(
    proc.stop({ closeInput: () => proc.stdin.close(), graceMs: 5000, termMs: 5000 }),
    10_000,
    "stop",
  );
  await reading;
  assert.deepEqual(status, { code: 0, signal: null, reason: "stopped", stderrTail: "bye" });
});

Deno.test("PluginProcess.stop() sends SIGTERM after the grace period", async () => {
  const proc = deno("setInterval(() => {}, 1000);");
  const reading = drainStdout(proc);
  const status = await proc.stop({
    closeInput: () => proc.stdin.close(),
    graceMs: 100,
    termMs: 5000,
  });
  await reading;
  assert.equal(status.signal, "SIGTERM");
  assert.equal(status.reason, "stopped");
});

Deno.test("PluginProcess.stop() SIGKILLs a process that ignores SIGTERM, and says so", async () => {
  const lines: string[] = [];
  const proc = deno(
    "Deno.addSignalListener('SIGTERM', () => console.error('ignored SIGTERM')); console.error('ready'); setInterval(() => {}, 1000);",
    lines,
  );
  const reading = drainStdout(proc);
  const status = await proc.stop({
    closeInput: () => proc.stdin.close(),
    graceMs: 300,
    termMs: 300,
  });
  await reading;
  assert.equal(status.signal, "SIGKILL");
  assert.equal(status.reason, "killed");
});

Deno.test("PluginProcess keeps a bounded, neutralised stderr tail and reports its own kills", async () => {
  const proc = deno(
    "for (let i = 0; i < 5000; i++) console.error('\\x1b[31mline ' + i); setInterval(() => {}, 1000);",
  );
  const reading = drainStdout(proc);
  proc.kill();
  const status = await proc.status;
  await reading;
  await proc.stdin.close().catch(() => {});
  assert.equal(status.reason, "killed");
  assert.ok(!status.stderrTail.includes("\x1b"));
  assert.ok(status.stderrTail.length <= 4096);
});

Deno.test("PluginProcess throws a clear error when the command cannot be spawned", () => {
  assert.throws(
    () => new PluginProcess({ command: "/no/such/binary", args: [], env: {}, cwd: "/" }),
    /Cannot spawn "\/no\/such\/binary"/,
  );
});
