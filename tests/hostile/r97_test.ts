/**
 * Review 97: attacks on reviews 95's and 96's fixes.
 * @module
 */

import assert from "node:assert/strict";
import { classifyLine, paramsIdOf } from "../../runner/wire/mod.ts";
import { scanJson } from "../../runner/wire/json_scan.ts";
import { checkGrantLinks } from "../../runner/sandbox/grant_links.ts";
import type { ResolvedGrants } from "../../runner/sandbox/permissions.ts";
import { PreflightError } from "../../runner/errors.ts";

const LIMITS = { maxDepth: 64, maxMembers: 1 << 20 };

Deno.test("a stream item's id is its last params' id, as JSON.parse reads it, when params is given twice", () => {
  const lines = [
    '{"jsonrpc":"2.0","method":"$/item","params":{"id":1,"value":1},"params":{"value":2}}',
    '{"jsonrpc":"2.0","method":"$/item","params":{"id":1,"value":1},"params":[1]}',
    '{"jsonrpc":"2.0","method":"$/item","params":{"id":1},"params":"x"}',
    '{"jsonrpc":"2.0","method":"$/item","params":{"id":1},"params":{"id":2}}',
  ];
  for (const text of lines) {
    const bytes = new TextEncoder().encode(text);
    const found = classifyLine(bytes, scanJson(bytes, LIMITS));
    assert.equal(found.kind, "notification", text);
    const message = (found as { message: { params?: unknown } }).message;
    const parsed = JSON.parse(text).params;
    const want = typeof parsed === "object" && parsed !== null ? parsed.id : undefined;
    assert.equal(paramsIdOf(message), want, text);
  }
});

Deno.test("a grant's links that lead through a long chain of links cost the check as the chain's targets are long", () => {
  const grant = Deno.makeTempDirSync({ prefix: "plugbox-r97-" });
  try {
    // 39 links, each a 1 KB way ("d/.." again and again) to the next: resolving one costs 39 KB
    // of names, and each of 150 links of one byte to the first resolves it all (review 97).
    Deno.mkdirSync(`${grant}/d`);
    for (let k = 1; k <= 39; k++) {
      Deno.symlinkSync(`${"d/../".repeat(200)}${k < 39 ? `b${k + 1}` : "d"}`, `${grant}/b${k}`);
    }
    for (let i = 0; i < 150; i++) Deno.symlinkSync("b1", `${grant}/l${i}`);
    const grants = { read: [Deno.realPathSync(grant)], write: [], net: [], env: {} };
    assert.throws(
      () => checkGrantLinks("r97", grants as unknown as ResolvedGrants),
      (error: unknown) => error instanceof PreflightError && error.reason === "grant-too-large",
    );
  } finally {
    Deno.removeSync(grant, { recursive: true });
  }
});
