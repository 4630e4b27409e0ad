// Review 71: the capability-call screen (JsonScan.stray, strayInCall) read a line's envelope
// otherwise than the JSON.parse that a `params` over 4 KiB made of the whole line:
//  - "result" and "error" counted as envelope members for a request, so never "stray";
//  - a key's bytes were decoded alone by a TextDecoder that drops a leading BOM: the key
//    EF BB BF + "\u0072esult" was "result" to the scan and "\uFEFFresult" to the parse, and
//    EF BB BF + "\u0070arams" the call's params to the scan, a stray member to the parse.
// Valid calls carrying 2 MB beside their arguments passed unscreened: about a core, 10 to 14 times
// the plugin's CPU, no fault. Now a request's answer members are stray, a key keeps its BOM, and
// a long member is parsed from its own bytes, never the whole line. Each test failed before.
import assert from "node:assert/strict";
import { ProtocolError } from "../../mod.ts";
import { scanJson } from "../../runner/wire/mod.ts";
import { strayInCall } from "../../runner/host/capabilities.ts";
import { R66 } from "./plugins/r66_contract.ts";
import { startR66 } from "./_r66.ts";

const limits = { maxDepth: 64, maxMembers: 100_000 };
const head = '{"jsonrpc":"2.0","id":1,"method":"r66.size"';
const pad = "x".repeat(5000);
const BOM = "\uFEFF";

for (
  const [name, text] of [
    ['"result" beside a request', `${head},"params":{"args":["a"]},"result":"${pad}"}`],
    ['"error" beside a request', `${head},"params":{"args":["a"]},"error":"${pad}"}`],
    [
      "a BOM-led escaped key read as result",
      `${head},"params":{"args":["a"]},"${BOM}\\u0072esult":"${pad}"}`,
    ],
    ["a BOM-led escaped key read as params", `${head},"${BOM}\\u0070arams":{"args":["${pad}"]}}`],
    ["a BOM-led params key read as call", `${head},"params":{"${BOM}call":"${pad}","args":["a"]}}`],
  ]
) {
  Deno.test(`r71: the scan screens a capability call with ${name}`, () => {
    const parsed = JSON.parse(text);
    // What the parse builds beside the envelope's members and params' own.
    const extra = Object.keys(parsed).filter((k) =>
      !["jsonrpc", "id", "method", "params"].includes(k)
    );
    const extraParams = Object.keys(parsed.params ?? {}).filter((k) =>
      !["args", "call"].includes(k)
    );
    assert.ok(extra.length + extraParams.length > 0, "the parse builds a member for nothing");
    const scan = scanJson(new TextEncoder().encode(text), limits);
    assert.ok(strayInCall("r66.size", scan), "the scan's screen lets it through");
  });
}

for (const how of ["resultnow", "bomparams"]) {
  Deno.test(`r71: valid calls of a capability taking no argument, 2 MB beside it (${how}), are faults`, async () => {
    let faults = 0;
    let calls = 0;
    await using plugin = await startR66("r71_raw.ts", { onProtocolFault: () => faults++ }, {
      now: () => (calls++, 0),
    });
    const outcome = await plugin.api(R66, { timeout: 30_000 }).attempt(`junk:2000000:2:${how}`)
      .then((answer) => answer, (error) => error);
    assert.ok(
      outcome instanceof ProtocolError,
      `not ended: ${outcome}; ${calls} calls of 2 MB answered, ${faults} faults`,
    );
  });
}
