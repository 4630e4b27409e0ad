// Learn, then lock, on the example plugins: the audit of each one's calls
// holds exactly what the calls touch; the suggested manifest is no wider
// than the one shipped; granted as it is, it lets the same calls succeed,
// and with any one entry less they fail.
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type AuditLog,
  type Manifest,
  PermissionDeniedError,
  type Permissions,
  type StartOptions,
  startPlugin,
  suggestManifest,
} from "../mod.ts";
import { Fetcher } from "../plugins/fetcher/contract.ts";
import { Greeter } from "../plugins/hello/contract.ts";
import { Kv } from "../plugins/kv/contract.ts";
import { Summarizer } from "../plugins/summarizer/contract.ts";
import { rejected } from "./_helpers.ts";

const main = (name: string) => new URL(`../plugins/${name}/main.ts`, import.meta.url);

function shipped(name: string): Manifest {
  try {
    return JSON.parse(
      Deno.readTextFileSync(new URL(`../plugins/${name}/plugbox.json`, import.meta.url)),
    );
  } catch {
    return { permissions: {} }; // no plugbox.json: it requests nothing
  }
}

/** Every suggested entry is covered by a request of the shipped manifest. */
function assertNoWider(suggested: Manifest, name: string): void {
  const requests = shipped(name).permissions;
  for (const [kind, entries] of Object.entries(suggested.permissions)) {
    for (const { value } of entries ?? []) {
      const covered = (requests[kind as keyof typeof requests] ?? []).some((r) =>
        r.value === "*" || r.value === value
      );
      assert.ok(covered, `${name}: suggested ${kind} "${value}" is wider than its plugbox.json`);
    }
  }
}

/** The suggested manifest as grants, as it is; variables take `values`. */
function grantsOf(manifest: Manifest, values: Record<string, string> = {}): Permissions {
  const list = (kind: keyof Manifest["permissions"]) =>
    (manifest.permissions[kind] ?? []).map((r) => r.value);
  return {
    read: list("read"),
    write: list("write"),
    net: list("net"),
    env: Object.fromEntries(list("env").map((name) => [name, values[name] ?? ""])),
  };
}

/** Each manifest with one entry taken out, named for the entry. */
function lessOne(manifest: Manifest): [string, Manifest][] {
  return Object.entries(manifest.permissions).flatMap(([kind, entries]) =>
    (entries ?? []).map((_, i): [string, Manifest] => [
      `${kind} "${entries![i].value}"`,
      {
        permissions: {
          ...manifest.permissions,
          [kind]: entries!.filter((_, j) => j !== i),
        },
      },
    ])
  );
}

interface Example {
  name: string;
  options: Omit<StartOptions, "permissions">;
  permissions: Permissions;
  env?: Record<string, string>;
  calls: (plugin: Awaited<ReturnType<typeof startPlugin>>) => Promise<unknown>;
}

async function audited(example: Example): Promise<AuditLog> {
  const plugin = await startPlugin(main(example.name), {
    ...example.options,
    permissions: example.permissions,
    audit: true,
  });
  try {
    await example.calls(plugin);
  } finally {
    await plugin.close();
  }
  return await plugin.audit();
}

async function runWith(example: Example, manifest: Manifest): Promise<void> {
  await using plugin = await startPlugin(main(example.name), {
    ...example.options,
    permissions: grantsOf(manifest, example.env),
  });
  await example.calls(plugin);
}

/** The round trip: suggested as is, the calls succeed; one entry less, they fail. */
async function roundTrip(example: Example, log: AuditLog): Promise<Manifest> {
  const { manifest, warnings } = suggestManifest([log]);
  assert.deepEqual(warnings, []);
  assertNoWider(manifest, example.name);
  await runWith(example, manifest);
  for (const [entry, narrower] of lessOne(manifest)) {
    const error = await rejected(runWith(example, narrower));
    assert.ok(error instanceof Error, `${example.name} without ${entry} still works`);
  }
  return manifest;
}

const seen = (log: AuditLog) =>
  log.entries.map((e) => [e.kind, e.value, e.granted, e.calls.map((c) => c.method)]);

Deno.test("audit and suggest: hello touches nothing, and needs nothing", async () => {
  const example: Example = {
    name: "hello",
    options: { contracts: [Greeter] },
    permissions: {},
    calls: async (plugin) => assert.equal(await plugin.api(Greeter).sayHello("a"), "hello, a"),
  };
  const log = await audited(example);
  assert.deepEqual(seen(log), []);
  assert.deepEqual((await roundTrip(example, log)).permissions, {});
});

Deno.test("audit: hello's readGreeting is denied the file it asks for, and the audit says which", async () => {
  await using plugin = await startPlugin(main("hello"), { contracts: [Greeter], audit: true });
  const error = await rejected(plugin.api(Greeter).readGreeting("/etc/hostname"));
  assert.ok(error instanceof PermissionDeniedError);
  assert.deepEqual(seen(await plugin.audit()), [["read", "/etc/hostname", false, [
    "greeter.readGreeting",
  ]]]);
});

Deno.test("audit and suggest: summarizer reads its folder and the text files in it", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  try {
    await Deno.writeTextFile(join(dir, "a.md"), "# Title\n");
    await Deno.writeTextFile(join(dir, "b.txt"), "one two\n");
    await Deno.writeTextFile(join(dir, "skip.bin"), "not text");
    const example: Example = {
      name: "summarizer",
      options: { contracts: [Summarizer] },
      permissions: { read: [dir] },
      calls: async (plugin) =>
        assert.equal((await plugin.api(Summarizer).summarize(dir)).length, 2),
    };
    const log = await audited(example);
    const call = ["summarizer.summarize"];
    assert.deepEqual(seen(log).sort(), [
      ["read", dir, true, call],
      ["read", join(dir, "a.md"), true, call],
      ["read", join(dir, "b.txt"), true, call],
    ]);
    const manifest = await roundTrip(example, log);
    assert.deepEqual(manifest.permissions.read?.map((r) => r.value), [dir]);
    assert.match(manifest.permissions.read![0].reason, /^TODO: .*summarizer\.summarize/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("audit and suggest: fetcher connects to the one host:port it fetches", async () => {
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("quote"),
  );
  const target = `127.0.0.1:${server.addr.port}`;
  const example: Example = {
    name: "fetcher",
    options: { contracts: [Fetcher], unsafe: { privateNetwork: true } },
    permissions: { net: [target] },
    calls: async (plugin) =>
      assert.equal((await plugin.api(Fetcher).fetchText(`http://${target}/x`)).body, "quote"),
  };
  const log = await audited(example);
  assert.deepEqual(seen(log), [["net", target, true, ["fetcher.fetchText"]]]);
  const manifest = await roundTrip(example, log);
  assert.deepEqual(manifest.permissions, {
    net: [{
      value: target,
      reason: "TODO: say why the plugin needs this (seen in fetcher.fetchText)",
    }],
  });
});

Deno.test("audit and suggest: kv reads KV_DIR at start, then reads and writes only its store", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  try {
    const example: Example = {
      name: "kv",
      // The suite runs as root: a write grant then needs the acknowledgement (THREATS T21).
      options: { contracts: [Kv], unsafe: { writeAsRoot: true } },
      permissions: { read: [dir], write: [dir], env: { KV_DIR: dir } },
      env: { KV_DIR: dir },
      calls: async (plugin) => {
        const kv = plugin.api(Kv);
        await kv.set("a", { n: 1 });
        assert.deepEqual(await kv.get("a"), { n: 1 });
        assert.deepEqual(await kv.keys(), ["a"]);
        assert.equal(await kv.delete("a"), true);
      },
    };
    const log = await audited(example);
    const file = join(dir, "a.json");
    assert.deepEqual(seen(log), [
      ["env", "KV_DIR", true, []],
      ["write", `${file}.tmp`, true, ["kv.set"]],
      ["read", `${file}.tmp`, true, ["kv.set"]],
      ["write", file, true, ["kv.set", "kv.delete"]],
      ["read", file, true, ["kv.get"]],
      ["read", dir, true, ["kv.keys"]],
    ]);
    assert.equal(log.entries[0].outsideCalls, 1, "KV_DIR is read at start, outside any call");
    const manifest = await roundTrip(example, log);
    assert.deepEqual(
      Object.fromEntries(
        Object.entries(manifest.permissions).map(([k, v]) => [k, v!.map((r) => r.value)]),
      ),
      { env: ["KV_DIR"], read: [dir], write: [dir] },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
