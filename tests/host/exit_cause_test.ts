import assert from "node:assert/strict";
import { decodeWaitStatus } from "../../runner/host/exit_cause.ts";

Deno.test("decodeWaitStatus() tells an exit code from a signal, as waitpid reports them", () => {
  assert.deepEqual(decodeWaitStatus(133 << 8), { code: 133, signal: null });
  assert.deepEqual(decodeWaitStatus(0), { code: 0, signal: null });
  assert.deepEqual(decodeWaitStatus(5), { code: null, signal: "SIGTRAP" });
  assert.deepEqual(decodeWaitStatus(9), { code: null, signal: "SIGKILL" });
  assert.deepEqual(decodeWaitStatus(11 | 0x80), { code: null, signal: "SIGSEGV" }, "core dumped");
});
