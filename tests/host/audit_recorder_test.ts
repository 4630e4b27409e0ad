// The audit reader alone, fed by hand: lines split across reads, lines that
// are not checks, a line past the cap, attribution around calls, and the
// file removed at the end. Real processes are in audit_test.ts.
import assert from "node:assert/strict";
import { join } from "node:path";
import { AuditRecorder } from "../../runner/host/audit.ts";
import type { LaunchPlan } from "../../runner/sandbox/mod.ts";

function fakePlan(dir: string, maxLogBytes = 1 << 20): LaunchPlan {
  return {
    name: "fake",
    root: dir,
    isolation: "deno",
    snapshot: { dir, hash: "", entry: "", files: 0, bytes: 0 },
    grants: { read: ["/ok"], write: [], net: [], env: {}, sys: [], run: [], ffi: [], all: false },
    audit: {
      log: join(dir, "audit.jsonl"),
      ownFolder: false,
      maxEntries: 100,
      maxLogBytes,
      cwd: dir,
      mounted: [],
    },
  } as unknown as LaunchPlan;
}

const line = (permission: string, value: string | null) =>
  JSON.stringify({ v: 1, datetime: "2026-01-01T00:00:00Z", permission, value }) + "\n";

async function withRecorder(
  test: (recorder: AuditRecorder, write: (text: string) => void) => Promise<void>,
  maxLogBytes?: number,
  onOverflow = () => {},
): Promise<void> {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  const plan = fakePlan(dir, maxLogBytes);
  const recorder = AuditRecorder.open(plan, { onOverflow });
  const file = await Deno.open(plan.audit!.log, { write: true, append: true });
  try {
    await test(recorder, (text) => file.writeSync(new TextEncoder().encode(text)));
  } finally {
    file.close();
    await recorder.finish();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("AuditRecorder joins a line split across reads, and counts lines that are not checks", async () => {
  await withRecorder(async (recorder, write) => {
    const whole = line("read", "/ok/a");
    write(whole.slice(0, 20));
    assert.equal((await recorder.snapshot()).checks, 0, "half a line is not a check yet");
    write(whole.slice(20));
    write("not json\n");
    write(JSON.stringify({ permission: "READ!", value: 1 }) + "\n");
    write("\n");
    const log = await recorder.snapshot();
    assert.equal(log.checks, 1);
    assert.equal(log.malformed, 2, "an empty line is not counted");
    assert.deepEqual(log.entries.map((e) => [e.kind, e.value, e.granted]), [[
      "read",
      "/ok/a",
      true,
    ]]);
    assert.equal(log.complete, false);
  });
});

Deno.test("AuditRecorder keeps only the kind of a check too long to record, and reads the next", async () => {
  await withRecorder(async (recorder, write) => {
    const huge = line("env", "X".repeat(70 * 1024));
    write(huge);
    write(`{"permission":"read","value":"${"x".repeat(70 * 1024)}"}\n`);
    write(line("env", "AFTER"));
    const log = await recorder.snapshot();
    assert.equal(log.malformed, 1, "a long line that is not Deno's is malformed");
    assert.deepEqual(log.entries.map((e) => [e.kind, e.value, e.granted]), [
      ["env", `(a value of ${huge.length - 1} bytes, too long to record)`, false],
      ["env", "AFTER", false],
    ]);
  });
});

Deno.test("AuditRecorder attributes a check to the one call in flight, and to none outside calls", async () => {
  await withRecorder(async (recorder, write) => {
    write(line("env", "BEFORE"));
    await recorder.around("c.one", () => {
      write(line("env", "DURING"));
      return Promise.resolve();
    });
    // The call counts as finished once the host has read to the end after its answer.
    await recorder.snapshot();
    write(line("env", "AFTER"));
    const log = await recorder.snapshot();
    const by = (v: string) => log.entries.find((e) => e.value === v)!;
    assert.deepEqual(by("BEFORE").calls, []);
    assert.equal(by("BEFORE").outsideCalls, 1);
    assert.deepEqual(by("DURING").calls, [{ id: 1, method: "c.one" }]);
    assert.equal(by("AFTER").outsideCalls, 1);
  });
});

Deno.test("AuditRecorder stops reading past maxLogBytes and asks for the process to be killed", async () => {
  let overflows = 0;
  await withRecorder(
    async (recorder, write) => {
      for (let i = 0; i < 100; i++) write(line("env", `V${i}`));
      const log = await recorder.snapshot();
      assert.equal(overflows, 1);
      assert.equal(log.overflow, true);
      assert.ok(log.checks < 100);
    },
    1000,
    () => overflows++,
  );
});

Deno.test("AuditRecorder.finish() reads to the end, then removes the file; twice is harmless", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  try {
    const plan = fakePlan(dir);
    const recorder = AuditRecorder.open(plan, { onOverflow: () => {} });
    await Deno.writeTextFile(plan.audit!.log, line("env", "LAST"), { append: true });
    await Promise.all([recorder.finish(), recorder.finish()]);
    const log = await recorder.snapshot();
    assert.equal(log.finished, true);
    assert.deepEqual(log.entries.map((e) => e.value), ["LAST"]);
    assert.throws(() => Deno.statSync(plan.audit!.log), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("AuditRecorder.observe() records another observer's entries apart from Deno's", async () => {
  await withRecorder(async (recorder, write) => {
    write(line("net", "example.com:443"));
    await recorder.snapshot();
    recorder.observe("proxy", { kind: "net", value: "example.com:443", granted: true });
    const log = await recorder.snapshot();
    assert.deepEqual(log.entries.map((e) => [e.source, e.kind, e.value]), [
      ["deno", "net", "example.com:443"],
      ["proxy", "net", "example.com:443"],
    ]);
  });
});
