// The audit as plug prints it: a read of the plugin's own files names the
// plugin's folder, as the user knows it, not plugbox's snapshot of it.
import assert from "node:assert/strict";
import type { AuditEntry, AuditLog } from "../../mod.ts";
import { auditLines } from "../../runner/cli/audit_text.ts";

function entry(kind: string, value: string, granted: boolean): AuditEntry {
  return {
    source: "deno",
    kind,
    value,
    granted,
    count: 1,
    first: 0,
    last: 0,
    calls: [{ id: 1, method: "kv.get" }],
    outsideCalls: 0,
    ambiguous: 0,
  };
}

Deno.test("auditLines() shows a path in the snapshot in the plugin's own folder, other paths as checked", () => {
  const log: AuditLog = {
    plugin: "kv",
    root: "/home/me/app/plugins/kv",
    snapshot: "/root/.cache/plugbox/snapshots/0123abcd",
    isolation: "os",
    grants: { read: [], write: [], net: [], env: [], sys: [] },
    entries: [
      entry("read", "/root/.cache/plugbox/snapshots/0123abcd/data/seed.json", false),
      entry("read", "/root/.cache/plugbox/snapshots/0123abcd-other/x", false),
      entry("env", "/root/.cache/plugbox/snapshots/0123abcd", false),
    ],
    checks: 3,
    bytes: 0,
    dropped: 0,
    malformed: 0,
    overflow: false,
    finished: true,
    complete: true,
  };
  const text = auditLines(log).join("\n");
  assert.match(
    text,
    /DENIED +\/home\/me\/app\/plugins\/kv\/data\/seed\.json \(the plugin's own folder\)/,
  );
  assert.match(
    text,
    /\/root\/\.cache\/plugbox\/snapshots\/0123abcd-other\/x/,
    "a sibling is not the snapshot",
  );
  assert.match(
    text,
    /env\n {2}DENIED +\/root\/\.cache\/plugbox\/snapshots\/0123abcd /,
    "only paths are mapped",
  );
});
