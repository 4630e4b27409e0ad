// The permission audit of real plugin processes: every entry against what
// Deno actually allowed, attribution to calls, the bounds, the refusals,
// the PluginHost event, and nothing at all when the audit is off.
import assert from "node:assert/strict";
import { join } from "node:path";
import { tmpdir } from "node:os";
import {
  type AuditLog,
  type PluginEvent,
  PluginExitedError,
  PluginHost,
  previewStart,
  startPlugin,
} from "../../mod.ts";
import { Touch } from "../fixtures/contracts.ts";
import { fixture, LAYERS, rejected, uncaught, within } from "../_helpers.ts";

async function scratch(): Promise<{ dir: string } & AsyncDisposable> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-audit-test-" }));
  return { dir, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

function entryOf(log: AuditLog, kind: string, value: string) {
  const entry = log.entries.find((e) => e.kind === kind && e.value === value);
  assert.ok(
    entry,
    `no ${kind} entry for ${value} in ${JSON.stringify(log.entries.map((e) => [e.kind, e.value]))}`,
  );
  return entry;
}

for (const isolation of LAYERS) {
  Deno.test(`audit [${isolation}]: each entry's verdict is what Deno did, and names the call`, async () => {
    await using space = await scratch();
    const [readable, writable, hidden] = ["r", "w", "h"].map((n) => join(space.dir, n));
    for (const dir of [readable, writable, hidden]) await Deno.mkdir(dir);
    await Deno.writeTextFile(join(readable, "f"), "x");
    await Deno.writeTextFile(join(hidden, "f"), "x");
    using server = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const granted = `127.0.0.1:${server.addr.port}`;
    await using plugin = await startPlugin(fixture("toucher.ts"), {
      contracts: [Touch],
      isolation,
      audit: true,
      permissions: {
        read: [readable],
        write: [writable],
        net: [granted],
        env: { TOUCHER_TOKEN: "t" },
        sys: ["hostname"],
      },
      // This suite runs as root: a write grant then needs the acknowledgement (THREATS T21).
      unsafe: { privateNetwork: true, writeAsRoot: true },
    });
    const ops: [string, string][] = [
      ["read", join(readable, "f")],
      ["read", join(hidden, "f")],
      ["write", join(writable, "out")],
      ["write", join(readable, "out")],
      ["net", granted],
      ["net", "127.0.0.1:1"],
      ["env", "TOUCHER_TOKEN"],
      ["env", "OTHER"],
      ["sys", "hostname"],
      ["sys", "osRelease"],
    ];
    const outcomes = await plugin.api(Touch).touch(ops);
    // Under Landlock, Deno allows the granted connection and the kernel refuses it: plain TCP
    // reaches only the egress proxy's port (README: fetch only). The audit shows Deno's verdict.
    const connected = isolation === "landlock" ? "PermissionDenied" : "ok";
    assert.deepEqual(outcomes, [
      "ok",
      "NotCapable",
      "ok",
      "NotCapable",
      connected,
      "NotCapable",
      "ok",
      "NotCapable",
      "ok",
      "NotCapable",
    ]);
    const log = await plugin.audit();
    ops.forEach(([kind, value], i) => {
      const entry = entryOf(log, kind, value);
      assert.equal(entry.granted, outcomes[i] !== "NotCapable", `${kind} ${value}`);
      assert.deepEqual(entry.calls, [{ id: 1, method: "touch.touch" }]);
      assert.equal(entry.source, "deno");
      assert.ok(entry.first <= entry.last && entry.count >= 1);
    });
    assert.equal(log.entries.length, ops.length, "nothing else was checked");
    assert.ok(log.complete && !log.finished && log.dropped === 0 && log.malformed === 0);
    assert.deepEqual(log.grants.env, ["TOUCHER_TOKEN"], "variable names, never their values");
  });
}

Deno.test("audit: checks of concurrent calls go to their own call or count as ambiguous, never to another", async () => {
  await using space = await scratch();
  await using plugin = await startPlugin(fixture("toucher.ts"), {
    contracts: [Touch],
    audit: true,
    permissions: { read: [space.dir] },
  });
  const api = plugin.api(Touch);
  const paths = Array.from({ length: 12 }, (_, i) => join(space.dir, `f${i}`));
  await Promise.all(paths.map((p) => api.touch([["read", p]])));
  const first = join(space.dir, "alone");
  await api.touch([["read", first]]);
  const log = await plugin.audit();
  for (const [i, path] of paths.entries()) {
    const entry = entryOf(log, "read", path);
    assert.ok(entry.calls.every((c) => c.id === i + 1), `${path}: ${JSON.stringify(entry.calls)}`);
    assert.equal(entry.calls.length + entry.ambiguous, 1);
  }
  assert.deepEqual(entryOf(log, "read", first).calls, [{ id: 13, method: "touch.touch" }]);
});

Deno.test("audit: off by default, it adds no variable, no file and no reader", async () => {
  await using cache = await scratch();
  await using plugin = await startPlugin(fixture("toucher.ts"), {
    contracts: [Touch],
    cacheDir: cache.dir,
  });
  assert.equal(plugin.plan.audit, undefined);
  assert.ok(!("DENO_AUDIT_PERMISSIONS" in plugin.plan.env));
  assert.ok(!plugin.plan.args.some((a) => a.endsWith(".jsonl")), "no audit file is mounted");
  const error = await rejected<TypeError>(plugin.audit());
  assert.ok(error instanceof TypeError);
  assert.match(error.message, /started without "audit"/);
  await plugin.api(Touch).touch([["env", "X"]]);
  assert.throws(() => Deno.statSync(join(cache.dir, "audit")), Deno.errors.NotFound);
});

Deno.test("audit: at most maxEntries distinct entries are kept, the rest counted as dropped", async () => {
  await using plugin = await startPlugin(fixture("toucher.ts"), {
    contracts: [Touch],
    audit: { maxEntries: 10 },
  });
  assert.equal(await plugin.api(Touch).flood("V", 50), 50);
  const log = await plugin.audit();
  assert.equal(log.entries.length, 10);
  assert.equal(log.dropped, 40);
  assert.equal(log.checks, 50);
  assert.equal(log.complete, false);
  assert.deepEqual(log.entries.map((e) => e.value), Array.from({ length: 10 }, (_, i) => `V${i}`));
});

Deno.test("audit: a plugin that floods checks past maxLogBytes is killed, and its audit says so", async () => {
  const faults: string[] = [];
  const plugin = await startPlugin(fixture("toucher.ts"), {
    contracts: [Touch],
    audit: { maxLogBytes: 256 * 1024 },
    onProtocolFault: (detail) => faults.push(detail),
  });
  const log = plugin.plan.audit!.log;
  try {
    const error = await rejected(within(plugin.api(Touch).flood("FLOOD", -1), 30_000, "the kill"));
    assert.ok(error instanceof PluginExitedError, String(error));
    assert.equal((await plugin.exited).reason, "killed");
    assert.deepEqual(faults, [
      "its permission checks passed audit.maxLogBytes (262144 bytes): killed",
    ]);
    const audit = await plugin.audit();
    assert.equal(audit.overflow, true);
    assert.equal(audit.complete, false);
    assert.ok(audit.bytes > 256 * 1024 && audit.bytes <= 256 * 1024 + 64 * 1024, `${audit.bytes}`);
  } finally {
    await plugin.close();
  }
  assert.equal((await plugin.audit()).finished, true);
  assert.throws(() => Deno.statSync(log), Deno.errors.NotFound, "the file is removed");
});

Deno.test("audit: the file is removed when the plugin stops, and the audit is kept whole", async () => {
  const plugin = await startPlugin(fixture("toucher.ts"), { contracts: [Touch], audit: true });
  const log = plugin.plan.audit!.log;
  assert.ok(Deno.statSync(log).isFile);
  assert.equal(Deno.statSync(log).mode! & 0o777, 0o600);
  await plugin.api(Touch).touch([["env", "LATE"]]);
  await plugin.close();
  assert.throws(() => Deno.statSync(log), Deno.errors.NotFound);
  const audit = await plugin.audit();
  assert.equal(audit.finished, true);
  assert.equal(entryOf(audit, "env", "LATE").granted, false);
});

Deno.test("audit: PluginHost emits an audit event for each new entry", async () => {
  const events: PluginEvent[] = [];
  await using host = new PluginHost({ onEvent: (e) => events.push(e), handleSignals: false });
  await host.start("toucher", fixture("toucher.ts"), { contracts: [Touch], audit: true });
  await host.api("toucher", Touch).touch([["env", "A"], ["env", "B"], ["env", "A"]]);
  await host.get("toucher").current!.audit();
  const audits = events.filter((e) => e.type === "audit");
  assert.deepEqual(
    audits.map((e) => e.type === "audit" && [e.plugin, e.entry.kind, e.entry.value]),
    [
      ["toucher", "env", "A"],
      ["toucher", "env", "B"],
    ],
  );
});

/** An audit listener that fails as `how` says, after noting the entry's value. */
function failingListener(how: "throws" | "rejects", seen: string[]) {
  return (entry: { value: string | null }): void => {
    seen.push(entry.value!);
    if (how === "throws") throw new Error("an audit listener's bug");
    return Promise.reject(new Error("an async audit listener's bug")) as unknown as void;
  };
}

for (const how of ["throws", "rejects"] as const) {
  Deno.test(`audit: an onAudit that ${how} is its own fault: every entry is kept and told, the plugin answers on, nothing is left unhandled`, async () => {
    using faults = uncaught();
    const told: string[] = [];
    await using plugin = await startPlugin(fixture("toucher.ts"), {
      contracts: [Touch],
      audit: true,
      onAudit: failingListener(how, told),
    });
    const api = plugin.api(Touch);
    // Many checks in one call: the recorder reads them in a few chunks, not one at a time.
    const names = Array.from({ length: 20 }, (_, i) => `FIRST_${i}`);
    const outcomes = await api.touch(names.map((n) => ["env", n]));
    assert.deepEqual(outcomes, names.map(() => "NotCapable"));
    // The next call is answered, and its check recorded too.
    assert.deepEqual(await api.touch([["env", "NEXT"]]), ["NotCapable"]);
    const log = await plugin.audit();
    const all = [...names, "NEXT"].sort();
    assert.deepEqual(log.entries.map((e) => e.value).sort(), all);
    assert.ok(log.complete && log.malformed === 0, JSON.stringify(log));
    assert.deepEqual([...told].sort(), all, "the listener was told of each entry once");
    // One more round trip: a rejection left unhandled above has been reported by now.
    assert.deepEqual(await api.touch([]), []);
    assert.equal(plugin.exitStatus, undefined, "the plugin runs on");
    assert.deepEqual(faults.seen, []);
  });

  Deno.test(`audit: a PluginHost plugin's onAudit that ${how} is its own fault: each audit event still comes, nothing is left unhandled`, async () => {
    using faults = uncaught();
    const told: string[] = [];
    const events: PluginEvent[] = [];
    await using host = new PluginHost({ onEvent: (e) => events.push(e), handleSignals: false });
    await host.start("toucher", fixture("toucher.ts"), {
      contracts: [Touch],
      audit: true,
      onAudit: failingListener(how, told),
    });
    const api = host.api("toucher", Touch);
    await api.touch([["env", "A"], ["env", "B"]]);
    await host.get("toucher").current!.audit();
    assert.deepEqual(await api.touch([]), [], "the plugin answers on");
    const audits = events.flatMap((e) => e.type === "audit" ? [e.entry.value] : []);
    assert.deepEqual(audits, ["A", "B"]);
    assert.deepEqual(told, ["A", "B"]);
    assert.equal(host.get("toucher").state, "running");
    assert.deepEqual(faults.seen, []);
  });
}

Deno.test("audit: refused with grants that escape the sandbox", async () => {
  const start = (permissions: Record<string, unknown>, unsafe: Record<string, boolean>) =>
    startPlugin(fixture("toucher.ts"), {
      contracts: [Touch],
      audit: true,
      permissions,
      unsafe,
      manifest: "ignore",
    });
  for (
    const [permissions, unsafe, kind] of [
      [{ all: true }, { all: true }, "all"],
      [{ run: ["/bin/true"] }, { run: true }, "run"],
      [{ ffi: ["/lib/x86_64-linux-gnu/libc.so.6"] }, { ffi: true }, "ffi"],
    ] as const
  ) {
    const error = await rejected<TypeError>(start(permissions, unsafe));
    assert.ok(error instanceof TypeError);
    assert.match(error.message, new RegExp(`granted ${kind} can reach past Deno's checks`));
  }
});

Deno.test("audit: refused with a Deno binary older than 2.9, which may write no checks", async () => {
  await using bin = await scratch();
  const denoSaying = async (version: string) => {
    const path = join(bin.dir, version, "deno");
    await Deno.mkdir(join(bin.dir, version));
    const answer = `deno ${version} (stable, release, x86_64-unknown-linux-gnu)`;
    await Deno.writeTextFile(
      path,
      `#!/bin/sh\n[ "$1" = --version ] && { echo '${answer}'; exit 0; }\nexec '${Deno.execPath()}' "$@"\n`,
      { mode: 0o755 },
    );
    return path;
  };
  const old = await denoSaying("2.4.0");
  const preview = (deno: string, audit: boolean) =>
    previewStart(fixture("toucher.ts"), { audit, deno, isolation: "deno" });
  const error = await rejected<TypeError>(preview(old, true));
  assert.ok(error instanceof TypeError);
  assert.match(error.message, /is 2\.4\.0, and the audit needs Deno 2\.9 or later/);
  assert.equal((await preview(old, false)).audit, undefined, "without audit, it may run");
  assert.ok((await preview(await denoSaying("2.9.0"), true)).audit);
  assert.ok((await preview(await denoSaying("3.0.0"), true)).audit);
});

Deno.test("audit: a grant over plugbox's cache moves the file to a folder of its own; over both, refused", async () => {
  await using cache = await scratch();
  // Its audit folder: a grant over the whole cache covers the sealing key (review 92).
  const audit = join(cache.dir, "audit");
  await Deno.mkdir(audit);
  const plugin = await startPlugin(fixture("toucher.ts"), {
    contracts: [Touch],
    audit: true,
    cacheDir: cache.dir,
    permissions: { read: [audit] },
  });
  const { log, ownFolder } = plugin.plan.audit!;
  assert.ok(ownFolder && !log.startsWith(cache.dir), log);
  await plugin.close();
  assert.throws(
    () => Deno.statSync(join(log, "..")),
    Deno.errors.NotFound,
    "its folder is removed",
  );
  // Over both, with the cache outside the temporary folder: a grant over a folder holding the
  // cache covers the sealing key, refused before the audit is planned (review 92). And a temporary
  // folder of its own: a grant over /tmp covers the keys of the caches this process's earlier
  // starts used there, refused before the audit too (review 96).
  const outside = await Deno.realPath(
    await Deno.makeTempDir({ dir: "/var/tmp", prefix: "plugbox-audit-test-" }),
  );
  const temporary = await Deno.realPath(
    await Deno.makeTempDir({ dir: "/var/tmp", prefix: "plugbox-audit-tmp-" }),
  );
  const saved = Deno.env.get("TMPDIR");
  Deno.env.set("TMPDIR", temporary);
  try {
    await Deno.mkdir(join(outside, "audit"));
    const error = await rejected<TypeError>(startPlugin(fixture("toucher.ts"), {
      contracts: [Touch],
      audit: true,
      cacheDir: outside,
      permissions: { read: [join(outside, "audit"), Deno.realPathSync(tmpdir())] },
    }));
    assert.match(error.message, /covers plugbox's cache .* and grant .* the temporary folder/);
  } finally {
    if (saved === undefined) Deno.env.delete("TMPDIR");
    else Deno.env.set("TMPDIR", saved);
    await Deno.remove(outside, { recursive: true });
    await Deno.remove(temporary, { recursive: true });
  }
});

Deno.test("audit [os]: a granted link the OS layer does not mount is marked outside-mounts", async () => {
  await using space = await scratch();
  await Deno.mkdir(join(space.dir, "g"));
  await Deno.writeTextFile(join(space.dir, "outside"), "x");
  await Deno.symlink(join(space.dir, "outside"), join(space.dir, "g", "link"));
  await using plugin = await startPlugin(fixture("toucher.ts"), {
    contracts: [Touch],
    isolation: "os",
    audit: true,
    permissions: { read: [join(space.dir, "g")] },
  });
  const target = join(space.dir, "g", "link");
  assert.deepEqual(await plugin.api(Touch).touch([["read", target]]), ["NotFound"]);
  const entry = entryOf(await plugin.audit(), "read", target);
  assert.equal(entry.granted, true, "Deno allowed it");
  assert.equal(entry.osLayer, "outside-mounts", "the sandbox did not show it");
});
