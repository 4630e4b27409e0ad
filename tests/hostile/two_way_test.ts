// THREATS T27 and T28: what two-way contracts open. T27: a plugin with no
// net and no env grant, given only the host's `fetch`, tries to learn the
// token the host holds for it or send it elsewhere. T28: a plugin ignores
// the stream protocol's bounds (credit, byte caps, call ids, rates) and
// sends capability calls the contract does not allow.
import assert from "node:assert/strict";
import { z } from "zod";
import { hostFetch, ProtocolError, provide, startPlugin, ValidationError } from "../../mod.ts";
import { defineContract, stream } from "../../contract.ts";
import { rejected, within } from "../_helpers.ts";
import { hostile, ISOLATIONS, plainRun } from "./_hostile.ts";
import { Thief } from "./plugins/t27_secret_thief.ts";

const TOKEN = "tok-4c1d8e2fa97b3306e5d1";

/** A server that echoes the headers it got, redirects on /redirect, and records each request. */
function echoServer() {
  const seen: (string | null)[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const url = new URL(request.url);
    seen.push(request.headers.get("authorization"));
    if (url.pathname === "/redirect") {
      const to = `http://127.0.0.1:${url.searchParams.get("to")}/`;
      return new Response(null, { status: 302, headers: { location: to } });
    }
    return Response.json(Object.fromEntries(request.headers));
  });
  return { seen, port: server.addr.port, [Symbol.asyncDispose]: () => server.shutdown() };
}

for (const isolation of ISOLATIONS) {
  Deno.test(`T27 [${isolation}]: a plugin given only host.fetch never learns the token nor gets it sent to an unbound host`, async () => {
    await using bound = echoServer();
    await using unbound = echoServer();
    const fetcher = hostFetch({
      allow: [`127.0.0.1:${bound.port}`, `127.0.0.1:${unbound.port}`],
      secrets: { API_TOKEN: { value: TOKEN, hosts: [`127.0.0.1:${bound.port}`] } },
      unsafe: { privateNetwork: true },
    });
    await using plugin = await startPlugin(hostile("t27_secret_thief.ts"), {
      contracts: [Thief],
      capabilities: [provide(Thief, { fetch: fetcher })],
      isolation,
    });
    const report = await plugin.api(Thief, { timeout: 60_000 }).steal(bound.port, unbound.port);
    assert.ok(!report.includes(TOKEN), `the plugin saw the token:\n${report}`);
    assert.match(report, /^env: NotCapable/m);
    assert.match(report, /^direct: NotCapable/m);
    assert.match(
      report,
      /^echo: .*\[secret API_TOKEN\]/m,
      "the bound host got it, echoed, redacted",
    );
    assert.ok(bound.seen.includes(`Bearer ${TOKEN}`));
    assert.ok(unbound.seen.every((a) => a !== `Bearer ${TOKEN}`), String(unbound.seen));
    assert.ok(!JSON.stringify(fetcher.log()).includes(TOKEN));
  });
}

Deno.test("T27 control: a plugin granted env and net reads the token and sends it anywhere", async () => {
  await using unbound = echoServer();
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(
    script,
    `await fetch("http://127.0.0.1:${unbound.port}/", { headers: { authorization: Deno.env.get("API_TOKEN")! } });`,
  );
  const run = await plainRun(script, {
    flags: [`--allow-net=127.0.0.1:${unbound.port}`, "--allow-env=API_TOKEN"],
    env: { API_TOKEN: TOKEN },
  });
  await Deno.remove(script);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(unbound.seen, [TOKEN]);
});

const Flow = defineContract({
  name: "flow",
  version: 1,
  methods: {
    items: z.function({ input: [z.string()], output: stream(z.number()) }),
    texts: z.function({ input: [z.string()], output: stream(z.string()) }),
    plain: z.function({ input: [z.string()], output: z.unknown() }),
  },
  capabilities: { load: z.function({ input: [z.string()], output: z.string() }) },
});

async function flow(isolation: (typeof ISOLATIONS)[number], faults: string[] = []) {
  const loads: unknown[] = [];
  const plugin = await startPlugin(hostile("t28_credit.ts"), {
    contracts: [Flow],
    capabilities: [provide(Flow, { load: (key) => (loads.push(key), "loaded") })],
    onProtocolFault: (detail) => faults.push(detail),
    isolation,
  });
  return { plugin, api: plugin.api(Flow), loads };
}

async function drain(items: AsyncIterable<unknown>): Promise<number> {
  let n = 0;
  for await (const _ of items) n++;
  return n;
}

for (const isolation of ISOLATIONS) {
  Deno.test(`T28 [${isolation}]: items beyond the credit, or on a call that is no stream, kill the plugin at once`, async () => {
    for (const mode of ["unsolicited", "big"]) {
      const { plugin, api } = await flow(isolation);
      await using _ = plugin;
      // Nothing is consumed: what the host granted at first is all the plugin may send.
      const items = mode === "big" ? api.texts(mode) : api.items(mode);
      await within(plugin.exited, 30_000, "the plugin to be killed");
      const error = await rejected(drain(items));
      assert.ok(error instanceof ProtocolError, `${mode}: ${error}`);
      assert.match(error.message, /stream item for call \d+ without credit/);
      assert.ok(items.buffered.bytes <= 1024 * 1024 + 600 * 1024, `${items.buffered.bytes} bytes`);
    }
    const { plugin, api } = await flow(isolation);
    await using _ = plugin;
    const error = await rejected(api.plain("item"));
    assert.ok(error instanceof ProtocolError, String(error));
    assert.match(error.message, /stream item for call \d+, which is no stream/);
  });

  Deno.test(`T28 [${isolation}]: invalid items, strays, a progress flood and bad capability calls are refused and bounded`, async () => {
    const faults: string[] = [];
    const { plugin, api, loads } = await flow(isolation, faults);
    await using _ = plugin;
    const invalid = await rejected(drain(api.items("invalid")));
    assert.ok(invalid instanceof ValidationError, String(invalid));
    assert.equal(invalid.direction, "output");
    assert.equal(await api.plain("stray"), "strays sent");
    assert.equal(faults.filter((f) => /which is not in flight/.test(f)).length, 40);
    let reports = 0;
    assert.equal(
      await api.plain.with({ onProgress: () => reports++ })("progress"),
      "progress sent",
    );
    assert.ok(reports > 0 && reports <= 100, `${reports} progress reports delivered`);
    const answers = await api.plain("capability") as { error?: { code: number; data?: unknown } }[];
    assert.equal(answers[0].error?.code, -32602, "invalid arguments are refused");
    assert.equal(answers[1].error?.code, -32601, "a capability not offered does not exist");
    assert.deepEqual(loads, [], "the host's implementation never ran");
    assert.ok(faults.some((f) => /request "flow\.nothing" to the host/.test(f)));
    assert.equal(plugin.exitStatus, undefined, "survivable: the plugin still runs");
  });
}

for (const isolation of ISOLATIONS) {
  Deno.test(`T28 [${isolation}]: a capability's work ends with the call that made it, though the plugin never cancels it`, async () => {
    let aborted!: () => void;
    const ended = new Promise<void>((resolve) => aborted = resolve);
    await using plugin = await startPlugin(hostile("t28_credit.ts"), {
      contracts: [Flow],
      capabilities: [provide(Flow, {
        load: (_key, { signal }) =>
          new Promise<string>((_, reject) =>
            signal.addEventListener("abort", () => {
              aborted();
              reject(signal.reason);
            })
          ),
      })],
      isolation,
    });
    const error = await rejected(plugin.api(Flow).plain.with({ timeout: 500 })("linked"));
    assert.equal((error as Error).name, "TimeoutError");
    await within(ended, 10_000, "the capability's signal to abort");
  });
}

Deno.test("T28 control: the plugin writes items nobody granted", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", hostile("t28_credit.ts"), "--plugbox-nonce=n"],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(
    '{"jsonrpc":"2.0","id":1,"method":"$/initialize","params":{"protocolVersion":1,"nonce":"n","contracts":[],"maxLineBytes":65536}}\n' +
      '{"jsonrpc":"2.0","id":2,"method":"flow.items","params":["unsolicited"]}\n',
  ));
  await writer.close();
  const lines = new TextDecoder().decode((await child.output()).stdout).trim().split("\n");
  const items = lines.filter((l) => l.includes('"$/item"')).length;
  assert.equal(items, 100_000, "every item sent with no credit granted at all");
});
