// The example plugins in plugins/, each used for real with its narrow grant,
// and each demo task run as a person would run it.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { PermissionDeniedError, PreflightError, startPlugin, ValidationError } from "../mod.ts";
import { Fetcher } from "../plugins/fetcher/contract.ts";
import { Kv } from "../plugins/kv/contract.ts";
import { Summarizer } from "../plugins/summarizer/contract.ts";
import { rejected } from "./_helpers.ts";

const plugin = (name: string) => new URL(`../plugins/${name}/main.ts`, import.meta.url);

Deno.test("summarizer: summarises a granted folder, is denied any other", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  try {
    await Deno.writeTextFile(`${dir}/a.md`, "# Title\n\nsome words here\n");
    await Deno.writeTextFile(`${dir}/b.txt`, "one two\nthree\n");
    await Deno.writeTextFile(`${dir}/skip.bin`, "not text");
    await using summarizer = await startPlugin(plugin("summarizer"), {
      contracts: [Summarizer],
      permissions: { read: [dir] },
    });
    const api = summarizer.api(Summarizer);
    assert.deepEqual(await api.summarize(dir), [
      { file: "a.md", lines: 3, words: 5, bytes: 25, first: "# Title" },
      { file: "b.txt", lines: 2, words: 3, bytes: 14, first: "one two" },
    ]);
    const denied = await rejected<PermissionDeniedError>(api.summarize("/etc"));
    assert.ok(denied instanceof PermissionDeniedError);
    assert.equal(denied.target, "/etc");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fetcher: reaches the granted local server and no other port", async () => {
  const allowed = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("quote"),
  );
  const other = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("secret"),
  );
  try {
    const grant = `127.0.0.1:${allowed.addr.port}`;
    await using fetcher = await startPlugin(plugin("fetcher"), {
      contracts: [Fetcher],
      permissions: { net: [grant] },
      unsafe: { privateNetwork: true },
    });
    const api = fetcher.api(Fetcher);
    const got = await api.fetchText(`http://${grant}/`);
    assert.deepEqual(got, { status: 200, contentType: "text/plain;charset=UTF-8", body: "quote" });
    const denied = await rejected<PermissionDeniedError>(
      api.fetchText(`http://127.0.0.1:${other.addr.port}/`),
    );
    assert.ok(denied instanceof PermissionDeniedError);
    assert.equal(denied.permission, "net");
    const badUrl = await rejected<ValidationError>(api.fetchText("file:///etc/passwd"));
    assert.ok(
      badUrl instanceof ValidationError,
      "the contract refuses non-http URLs before they are sent",
    );
  } finally {
    await allowed.shutdown();
    await other.shutdown();
  }
});

Deno.test("kv: keeps values in its granted folder across restarts; keys cannot escape it", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  try {
    const options = {
      contracts: [Kv],
      permissions: { read: [dir], write: [dir], env: { KV_DIR: dir } },
      // The suite runs as root: the kv plugin's files are root's (THREATS K2).
      unsafe: { writeAsRoot: true },
    };
    {
      await using kv = await startPlugin(plugin("kv"), options);
      const api = kv.api(Kv);
      await api.set("user-1", { name: "Ada", tags: ["x"] });
      await api.set("n", 42);
      assert.deepEqual(await api.keys(), ["n", "user-1"]);
    }
    await using kv = await startPlugin(plugin("kv"), options);
    const api = kv.api(Kv);
    assert.deepEqual(await api.get("user-1"), { name: "Ada", tags: ["x"] });
    assert.equal(await api.get("missing"), null);
    assert.equal(await api.delete("n"), true);
    assert.equal(await api.delete("n"), false);
    const escape = await rejected<ValidationError>(api.set("../../tmp/x", 1));
    assert.ok(escape instanceof ValidationError);
    assert.deepEqual(escape.path, [0]);
    const files = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name);
    assert.deepEqual(files, ["user-1.json"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the examples' manifests bound what a host may grant them", async () => {
  const refused = await rejected<PreflightError>(startPlugin(plugin("kv"), {
    contracts: [Kv],
    permissions: { read: ["/tmp"], env: { KV_DIR: "/tmp", MYAPP_OTHER: "x" } },
  }));
  assert.ok(refused instanceof PreflightError);
  assert.match(refused.message, /env "MYAPP_OTHER" not requested/);
});

for (
  const [task, expected] of [
    ["demo", /^hello, a\ndenied: .*"\/etc\/hostname".*"read"/],
    [
      "example:summarizer",
      /README\.md .* lines .* words[\s\S]*denied, as it should be: read "\/etc"/,
    ],
    [
      "example:fetcher",
      /^200 text\/plain.*: Simple is better than complex\.\ndenied, as it should be: net "127\.0\.0\.1:\d+"/,
    ],
    [
      "example:python",
      /^hello, a\nhello, Dr\. b\nhello, Dr\. c\nnot there for the plugin: FileNotFoundError: .*'\/etc\/hostname'\n\(isolation: os, command plugin\)/,
    ],
    [
      "example:kv",
      /keys: \[ "count", "greeting" \][\s\S]*after a restart, greeting = \{"text":"hello"[\s\S]*refused before it left the host/,
    ],
  ] as const
) {
  Deno.test(`deno task ${task} runs and shows what it should`, async () => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["task", "-q", task],
      cwd: fileURLToPath(new URL("..", import.meta.url)),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.match(stdout, expected);
  });
}
