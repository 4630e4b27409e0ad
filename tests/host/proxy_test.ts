import assert from "node:assert/strict";
import { z } from "zod";
import { defineContract } from "../../contract.ts";
import { PermissionDeniedError, PluginError, ValidationError } from "../../mod.ts";
import { ResponseError } from "../../runner/wire/peer.ts";
import { createApi } from "../../runner/host/proxy.ts";
import { toCallError } from "../../runner/host/answer_errors.ts";
import { rejected } from "../_helpers.ts";

const Api = defineContract({
  name: "api",
  version: 1,
  methods: {
    opt: z.function({ input: [z.string(), z.number().optional()], output: z.void() }),
    trimmed: z.function({ input: [z.string().transform((s) => s.trim())], output: z.string() }),
  },
});

Deno.test("createApi() sends raw arguments without trailing undefined and maps null to void", async () => {
  const sent: unknown[][] = [];
  const api = createApi(Api, {
    name: "p",
    call: (method, params) => {
      sent.push([method, params]);
      return Promise.resolve(method === "api.opt" ? null : "  raw  ");
    },
  });
  assert.equal(await api.opt("a"), undefined);
  assert.equal(await api.opt("a", undefined), undefined);
  assert.equal(await api.trimmed("  x "), "  raw  ");
  assert.deepEqual(sent, [["api.opt", ["a"]], ["api.opt", ["a"]], ["api.trimmed", ["  x "]]]);
});

Deno.test("createApi() passes call options to the target", async () => {
  const controller = new AbortController();
  let seen: unknown;
  const api = createApi(Api, {
    name: "p",
    call: (_m, _p, options) => {
      seen = options;
      return Promise.resolve("ok");
    },
  }, { timeout: 5, signal: controller.signal });
  await api.trimmed("x");
  assert.deepEqual(seen, { timeout: 5, signal: controller.signal });
});

Deno.test("toCallError() maps wire codes to domain errors and neutralises plugin text", () => {
  const denied = toCallError(
    new ResponseError(-32001, "x", { permission: "net", target: "evil.com:443" }),
    "p",
    "api",
    "opt",
  );
  assert.ok(denied instanceof PermissionDeniedError);
  assert.equal(denied.target, "evil.com:443");
  const invalid = toCallError(
    new ResponseError(-32602, "bad", { issues: [{ path: [0, "a"], message: "nope" }] }),
    "p",
    "api",
    "opt",
  );
  // The plugin's claim that the host's argument is invalid is a PluginError, not plugbox's verdict.
  assert.ok(invalid instanceof PluginError && !(invalid instanceof ValidationError));
  assert.equal(invalid.reportedBy, "plugin");
  assert.deepEqual(invalid.issues[0].path, [0, "a"]);
  const thrown = toCallError(
    new ResponseError(-32000, "\x1b[2Jgotcha", { name: "Evil\x1b]0;title\x07" }),
    "p",
    "api",
    "opt",
  );
  assert.ok(thrown instanceof PluginError);
  assert.equal(thrown.remoteName, "Evil\\x1b]0;title\\x07");
  assert.ok(!thrown.message.includes("\x1b"), "no raw escape reaches a message");
  // A denial the plugin reports is its claim, said to be one, on one line.
  const forged = toCallError(
    new ResponseError(-32001, "x", {
      permission: 'read\nPlugin "p" was denied',
      target: "/x\u202e",
    }),
    "p",
    "api",
    "opt",
  );
  assert.ok(forged instanceof PermissionDeniedError && forged instanceof PluginError);
  assert.equal(forged.reportedBy, "plugin");
  assert.match(forged.message, /^Plugin "p" reports it was denied read\\x0aPlugin/);
  assert.ok(!/[\n\u202e]/.test(forged.message), "one line, no bidi control");
  const other = new Error("not from the wire");
  assert.equal(toCallError(other, "p", "api", "opt"), other);
});

Deno.test("createApi() refuses an invalid result from the target", async () => {
  const api = createApi(Api, { name: "p", call: () => Promise.resolve(42) });
  const error = await rejected<ValidationError>(api.trimmed("x"));
  assert.ok(error instanceof ValidationError);
  assert.equal(error.direction, "output");
  assert.match(error.message, /Invalid result of "api\.trimmed" from plugin "p" at \(root\)/);
});

Deno.test("the API object is a plain frozen object, not a thenable", async () => {
  const api = createApi(Api, { name: "p", call: () => Promise.resolve(null) });
  assert.ok(Object.isFrozen(api));
  assert.equal("then" in api, false);
  assert.equal(await Promise.resolve(api), api, "awaiting the API object returns it");
});
