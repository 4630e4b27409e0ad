import assert from "node:assert/strict";
import { join } from "node:path";
import { PreflightError, previewStart } from "../../mod.ts";
import { pluginFolder } from "../hostile/_hostile.ts";
import { rejected } from "../_helpers.ts";

const MAIN = "export {};\n";

async function withData<T>(body: (data: string, other: string) => Promise<T>): Promise<T> {
  const base = await Deno.realPath(await Deno.makeTempDir());
  try {
    await Deno.mkdir(join(base, "data", "sub"), { recursive: true });
    await Deno.mkdir(join(base, "other"));
    return await body(join(base, "data"), join(base, "other"));
  } finally {
    await Deno.remove(base, { recursive: true });
  }
}

Deno.test("a plugin without plugbox.json requests nothing: any grant is refused, naming it", async () => {
  await using folder = await pluginFolder({ "main.ts": MAIN });
  await withData(async (data) => {
    const error = await rejected<PreflightError>(
      previewStart(join(folder.dir, "main.ts"), { permissions: { read: [data] } }),
    );
    assert.ok(error instanceof PreflightError);
    assert.equal(error.reason, "manifest");
    assert.match(
      error.message,
      new RegExp(
        `read "${data}" not requested \\(it has no plugbox.json, so it requests nothing\\)`,
      ),
    );
    const plan = await previewStart(join(folder.dir, "main.ts"));
    assert.deepEqual(plan.manifest, {
      manifest: { permissions: {} },
      found: false,
      uncovered: [],
      requests: [],
    });
  });
});

Deno.test("grants within the manifest pass; beyond it they are refused, narrowed or let through by policy", async () => {
  await withData(async (data, other) => {
    const manifest = {
      description: "reads one folder, calls one host",
      permissions: {
        read: [{ value: data, reason: "summarises the files there" }],
        net: [{ value: "api.example.com", reason: "any port of the API" }, {
          value: "cdn.example.com:443",
          reason: "assets",
        }],
        env: [{ value: "MYAPP_TOKEN", reason: "authenticates" }],
      },
    };
    await using folder = await pluginFolder({
      "main.ts": MAIN,
      "plugbox.json": JSON.stringify(manifest),
    });
    const main = join(folder.dir, "main.ts");
    const within = {
      read: [join(data, "sub")],
      net: ["api.example.com:8443", "cdn.example.com:443"],
      env: { MYAPP_TOKEN: "t" },
    };
    const ok = await previewStart(main, { permissions: within });
    assert.deepEqual(ok.manifest.uncovered, []);
    assert.equal(ok.manifest.manifest.description, "reads one folder, calls one host");

    const beyond = {
      read: [data, other],
      net: ["cdn.example.com:80"],
      env: { MYAPP_TOKEN: "t", MYAPP_OTHER: "o" },
    };
    const refused = await rejected<PreflightError>(previewStart(main, { permissions: beyond }));
    assert.equal(refused.reason, "manifest");
    assert.match(
      refused.message,
      new RegExp(`read "${other}", net "cdn.example.com:80", env "MYAPP_OTHER" not requested`),
    );
    assert.match(
      refused.message,
      /read "[^"]+" \(summarises the files there\)/,
      "the message says what was requested, and why",
    );

    const narrowed = await previewStart(main, { permissions: beyond, manifest: "narrow" });
    assert.deepEqual(narrowed.grants.read, [data]);
    assert.deepEqual(narrowed.grants.net, []);
    assert.deepEqual(Object.keys(narrowed.grants.env), ["MYAPP_TOKEN"]);
    assert.ok(
      !narrowed.args.some((a) => a.includes(other)),
      "the dropped grant is not on the command line",
    );
    assert.match(narrowed.notes.join("\n"), /grants narrowed to the manifest: dropped read/);

    const ignored = await previewStart(main, { permissions: beyond, manifest: "ignore" });
    assert.deepEqual(ignored.grants.read, [data, other].sort());
    assert.equal(ignored.manifest.uncovered.length, 3);
  });
});

Deno.test("a malformed plugbox.json is refused, naming the field", async () => {
  const cases = [
    ["{ nope", /is not JSON/],
    [
      JSON.stringify({ permissions: { read: [{ value: "data", reason: "relative" }] } }),
      /paths must be absolute/,
    ],
    [
      JSON.stringify({ permissions: { read: [{ value: "/x", reason: "two\nlines" }] } }),
      /"permissions\.read\[0\]\.reason": must be one line/,
    ],
    [JSON.stringify({ permissions: { teleport: [] } }), /unknown key "teleport" in "permissions"/],
    [
      JSON.stringify({ permissions: { net: [{ value: "x" }] } }),
      /missing "permissions\.net\[0\]\.reason"/,
    ],
    [JSON.stringify([]), /must hold a JSON object/],
    [JSON.stringify({ command: [] }), /"command"/],
    // JSON.parse keeps the last of two equal keys, silently; a reader sees the first (review 58).
    [
      '{"permissions":{"read":[{"value":"/srv/data","reason":"its data"}]},' +
      '"permissions":{"read":[{"value":"*","reason":"all"}],"env":[{"value":"*","reason":"all"}]}}',
      /holds a key twice in one object/,
    ],
    ['{"permissions":{"read":[{"value":"/x","reason":"a","reason":"b"}]}}', /a key twice/],
    // A byte order mark first: the caps still judge the text JSON.parse sees (review 61).
    ["\ufeff" + "[".repeat(30_000) + "]".repeat(30_000), /nested deeper than 8 levels/],
  ] as const;
  for (const [text, message] of cases) {
    await using folder = await pluginFolder({ "main.ts": MAIN, "plugbox.json": text });
    const error = await rejected<PreflightError>(previewStart(join(folder.dir, "main.ts")));
    assert.ok(error instanceof PreflightError, String(error));
    assert.equal(error.reason, "manifest");
    assert.match(error.message, message);
  }
});

Deno.test("a plugbox.json that begins with a byte order mark is read as without it", async () => {
  await using folder = await pluginFolder({
    "main.ts": MAIN,
    "plugbox.json": "\ufeff" + JSON.stringify({ description: "x", permissions: {} }),
  });
  const plan = await previewStart(join(folder.dir, "main.ts"));
  assert.equal(plan.manifest.found, true);
});

Deno.test("a plugbox.json that is a folder is refused as the manifest, naming the plugin's path", async () => {
  await using folder = await pluginFolder({ "main.ts": MAIN });
  await Deno.mkdir(join(folder.dir, "plugbox.json"));
  const error = await rejected<PreflightError>(previewStart(join(folder.dir, "main.ts")));
  assert.ok(error instanceof PreflightError, String(error));
  assert.equal(error.reason, "manifest");
  assert.equal(error.message.includes(join(folder.dir, "plugbox.json")), true, error.message);
  assert.match(error.message, /is not a regular file/);
});

// A refusal quotes the manifest it compares with; the manifest is the plugin's (review 41).
Deno.test("a refusal quotes at most 20 of the manifest's requests, each cut short", async () => {
  const read = Array.from({ length: 48 }, (_, i) => ({
    value: `/r${i}/${"\x7f".repeat(900)}`,
    reason: "\x7f".repeat(300),
  }));
  await using folder = await pluginFolder({
    "main.ts": MAIN,
    "plugbox.json": JSON.stringify({ permissions: { read } }),
  });
  await withData(async (data) => {
    const error = await rejected<PreflightError>(
      previewStart(join(folder.dir, "main.ts"), { permissions: { read: [data] } }),
    );
    assert.ok(error instanceof PreflightError, String(error));
    assert.match(error.message, /; 28 more\)$/);
    assert.ok(error.message.length < 5000, `${error.message.length} characters`);
  });
});

Deno.test("an unknown manifest policy is a TypeError", async () => {
  await using folder = await pluginFolder({ "main.ts": MAIN });
  await assert.rejects(
    previewStart(join(folder.dir, "main.ts"), { manifest: "maybe" as "refuse" }),
    TypeError,
  );
});
