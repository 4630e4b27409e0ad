/**
 * `deno bench bench/micro_bench.ts`: the hot path's parts, one at a time,
 * to see where a call's time goes (and what each optimisation bought).
 * @module
 */

import { z } from "zod";
import { classifyMessage } from "../runner/wire/protocol.ts";
import { classifyLine, classifyScanned } from "../runner/wire/envelope.ts";
import { scanJson } from "../runner/wire/json_scan.ts";
import { neutralize } from "../runner/wire/text.ts";
import { quickCheck } from "../runner/quick_check.ts";

const args = z.tuple([z.string()]);
const result = z.string();
const envelope = z.object({
  jsonrpc: z.literal("2.0"),
  id: z.union([z.number(), z.string()]),
  result: z.unknown().optional(),
  error: z.object({ code: z.number(), message: z.string(), data: z.unknown().optional() })
    .optional(),
});
const response = { jsonrpc: "2.0", id: 42, result: "hello, a" };
const line = JSON.stringify({ jsonrpc: "2.0", id: 42, method: "greeter.sayHello", params: ["a"] });
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const batch = encoder.encode(Array.from({ length: 64 }, () => line).join("\n") + "\n");

Deno.bench("zod: arguments tuple safeParse", { group: "validation" }, () => {
  args.safeParse(["a"]);
});
Deno.bench("zod: result safeParse", { group: "validation" }, () => {
  result.safeParse("hello, a");
});
// Since issue 14: plain schemas get a quick yes first; zod judges only what it does not pass.
const quickArgs = quickCheck(args)!;
const quickResult = quickCheck(result)!;
Deno.bench("quick check: arguments tuple", { group: "validation" }, () => {
  if (!quickArgs(["a"])) throw new Error("never");
});
Deno.bench("quick check: result", { group: "validation" }, () => {
  if (!quickResult("hello, a")) throw new Error("never");
});
Deno.bench("envelope: zod object schema", { group: "envelope", baseline: false }, () => {
  envelope.safeParse(response);
});
Deno.bench("envelope: hand check (classifyMessage)", { group: "envelope", baseline: true }, () => {
  classifyMessage(response);
});
Deno.bench("timer: setTimeout + clearTimeout", { group: "deadline" }, () => {
  clearTimeout(setTimeout(() => {}, 30_000));
});
Deno.bench("timer: AbortController + listener", { group: "deadline" }, () => {
  const c = new AbortController();
  const f = () => {};
  c.signal.addEventListener("abort", f, { once: true });
  c.signal.removeEventListener("abort", f);
});
Deno.bench("timer: deadline number only", { group: "deadline", baseline: true }, () => {
  const deadline = performance.now() + 30_000;
  if (deadline < 0) throw new Error("never");
});
Deno.bench("lines: decode each line then parse", { group: "lines", baseline: true }, () => {
  let start = 0;
  let nl = batch.indexOf(10);
  while (nl !== -1) {
    JSON.parse(decoder.decode(batch.subarray(start, nl)));
    start = nl + 1;
    nl = batch.indexOf(10, start);
  }
});
Deno.bench("lines: decode once, split string, parse", { group: "lines" }, () => {
  const text = decoder.decode(batch);
  let start = 0;
  let nl = text.indexOf("\n");
  while (nl !== -1) {
    JSON.parse(text.slice(start, nl));
    start = nl + 1;
    nl = text.indexOf("\n", start);
  }
});
Deno.bench("write: one encode per message", { group: "write", baseline: true }, () => {
  for (let i = 0; i < 64; i++) encoder.encode(line + "\n");
});
Deno.bench("write: join then one encode", { group: "write" }, () => {
  encoder.encode(Array.from({ length: 64 }, () => line).join("\n") + "\n");
});

// The host's read path since issue 10: every line is checked against the structure caps before it
// is parsed, and an answer nobody asked for is classified without being parsed.
const caps = { maxDepth: 64, maxMembers: 1_000_000 };
const kib = JSON.stringify({ jsonrpc: "2.0", id: 7, result: { items: Array(100).fill("abcdef") } });
const kibBytes = encoder.encode(kib);
const wide = JSON.stringify({ jsonrpc: "2.0", id: 7, result: Array(30_000).fill(0) });
const wideBytes = encoder.encode(wide);
Deno.bench("1 KiB answer: JSON.parse + classifyMessage", { group: "scan", baseline: true }, () => {
  classifyMessage(JSON.parse(kib));
});
Deno.bench("1 KiB answer: scanJson + classifyLine (parsed whole)", { group: "scan" }, () => {
  classifyLine(kibBytes, scanJson(kibBytes, caps), kib);
});
Deno.bench("60 KiB unasked answer: JSON.parse + classifyMessage", {
  group: "unasked",
  baseline: true,
}, () => {
  classifyMessage(JSON.parse(wide));
});
Deno.bench("60 KiB unasked answer: scanJson + classifyScanned (envelope only)", {
  group: "unasked",
}, () => {
  classifyScanned(wideBytes, scanJson(wideBytes, caps));
});

// neutralize() runs on every stderr line and every string a plugin sends.
const asciiLine = "info: summarised 3 files in 12 ms, 4096 bytes, ok ".repeat(3);
const mixedLine = "résumé 日本語 \u202egpj.exe\x1b[2J done ".repeat(6);
// deno-lint-ignore no-control-regex
const C0_C1 = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;
Deno.bench("neutralize: printable ASCII line", { group: "neutralize", baseline: true }, () => {
  neutralize(asciiLine);
});
Deno.bench("neutralize: the same line, C0/C1 regex only (before)", { group: "neutralize" }, () => {
  asciiLine.replace(C0_C1, "?");
});
Deno.bench("neutralize: Unicode line with bidi and escapes", { group: "neutralize" }, () => {
  neutralize(mixedLine);
});
