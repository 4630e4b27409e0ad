import assert from "node:assert/strict";
import { decodeWaitStatus } from "../../runner/host/exit_cause.ts";
import { testDeadline } from "../_helpers.ts";

Deno.test("decodeWaitStatus() tells an exit code from a signal, as waitpid reports them", () => {
  assert.deepEqual(decodeWaitStatus(133 << 8), { code: 133, signal: null });
  assert.deepEqual(decodeWaitStatus(0), { code: 0, signal: null });
  assert.deepEqual(decodeWaitStatus(5), { code: null, signal: "SIGTRAP" });
  assert.deepEqual(decodeWaitStatus(9), { code: null, signal: "SIGKILL" });
  assert.deepEqual(decodeWaitStatus(11 | 0x80), { code: null, signal: "SIGSEGV" }, "core dumped");
});

async function limitedHost(how: string): Promise<Record<string, unknown>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-run",
      new URL("../fixtures/limited_host.ts", import.meta.url).pathname,
      how,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  assert.ok(out.success && text, new TextDecoder().decode(out.stderr));
  return JSON.parse(text);
}

Deno.test("a host without --allow-all (no /proc in Deno) still sees every end, with bubblewrap's code", async () => {
  testDeadline(90_000);
  // Nothing was stopped, so a crash is seen at once; the code is bubblewrap's 128 + n, and with
  // V8's words a fatal code counts as out of memory (README, Lifecycle).
  assert.deepEqual(await limitedHost("heap"), { code: 133, signal: null, reason: "out-of-memory" });
  assert.deepEqual(await limitedHost("exit"), { code: 133, signal: null, reason: "out-of-memory" });
});
