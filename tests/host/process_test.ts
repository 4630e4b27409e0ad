import assert from "node:assert/strict";
import { startPlugin } from "../../mod.ts";
import { PluginProcess } from "../../runner/host/process.ts";
import { Life } from "../fixtures/contracts.ts";
import { fixture, rejected, until, within } from "../_helpers.ts";

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

/** The host's own open pipes, by their /proc identity (`pipe:[inode]`). */
function openPipes(): Set<string> {
  const pipes = new Set<string>();
  for (const fd of Deno.readDirSync("/proc/self/fd")) {
    try {
      const target = Deno.readLinkSync(`/proc/self/fd/${fd.name}`);
      if (target.startsWith("pipe:")) pipes.add(target);
    } catch {
      // closed while listed
    }
  }
  return pipes;
}

Deno.test("a plugin that exits on its own has its pipes closed at once, with no close()", async () => {
  const before = openPipes();
  const plugin = await startPlugin(fixture("lifecycle.ts"), { contracts: [Life] });
  const mine = [...openPipes()].filter((p) => !before.has(p));
  assert.ok(mine.length >= 3, `stdin, stdout and stderr are pipes: ${mine}`);
  await rejected(plugin.api(Life).crash(3));
  await plugin.exited;
  // Not after a garbage collection, nor when someone calls close(): now.
  await until(() => mine.every((p) => !openPipes().has(p)), 2000, "the plugin's pipes to close");
  await plugin.close();
});
