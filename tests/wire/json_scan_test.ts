// The scanner is the host's gate for every byte a plugin sends: it must
// accept exactly what JSON.parse accepts, enforce the structure caps before
// anything is built, find the envelope, and stay linear on any input.
import assert from "node:assert/strict";
import { scanJson } from "../../runner/wire/json_scan.ts";
import { classifyScanned, paramsIdOf } from "../../runner/wire/envelope.ts";
import { classifyMessage } from "../../runner/wire/protocol.ts";

const encoder = new TextEncoder();
const wide = { maxDepth: 1000, maxMembers: 1_000_000 };
const scan = (text: string, limits = wide) => scanJson(encoder.encode(text), limits);

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** A tiny deterministic random source, so a failing case can be replayed. */
function rng(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}

const PIECES = [
  "{",
  "}",
  "[",
  "]",
  ",",
  ":",
  '"',
  '"a"',
  '"id"',
  '"\\u00e9"',
  '"\\x"',
  "\\",
  "0",
  "-1",
  "1.5e3",
  "01",
  "1.",
  "-",
  "true",
  "tru",
  "null",
  "false",
  " ",
  "\t",
  "\r",
  "é",
  "\x01",
  '"\x01"',
  "1e+",
  '{"a":1}',
  "[1,2]",
];

Deno.test("scanJson() accepts exactly what JSON.parse accepts (20,000 random near-JSON lines)", () => {
  const random = rng(7);
  for (let n = 0; n < 20_000; n++) {
    const length = 1 + Math.floor(random() * 12);
    let text = "";
    for (let i = 0; i < length; i++) text += PIECES[Math.floor(random() * PIECES.length)];
    const verdict = scan(text).verdict;
    const blank = text.trim() === "";
    assert.equal(
      verdict === "ok",
      !blank && parses(text),
      `${JSON.stringify(text)}: scan says ${verdict}`,
    );
    if (blank) assert.equal(verdict, "blank");
  }
});

Deno.test("scanJson() stops at the depth and member caps", () => {
  assert.equal(
    scan("[".repeat(65) + "]".repeat(65), { maxDepth: 64, maxMembers: 99 }).verdict,
    "too-deep",
  );
  assert.equal(
    scan("[".repeat(64) + "]".repeat(64), { maxDepth: 64, maxMembers: 99 }).verdict,
    "ok",
  );
  const many = "[" + "0,".repeat(100) + "0]";
  assert.equal(scan(many, { maxDepth: 4, maxMembers: 101 }).verdict, "ok");
  assert.equal(scan(many, { maxDepth: 4, maxMembers: 100 }).verdict, "too-many");
  const keys = "{" + Array.from({ length: 101 }, (_, i) => `"k${i}":0`).join(",") + "}";
  assert.equal(scan(keys, { maxDepth: 4, maxMembers: 100 }).verdict, "too-many");
});

Deno.test("scanJson() finds the envelope members, escaped names and duplicates included", () => {
  const text = '{"jsonrpc":"2.0","i\\u0064":[1,{"id":9}],"method":"a.b","id":5,"params":{"x":[1]}}';
  const bytes = encoder.encode(text);
  const found = scanJson(bytes, wide);
  assert.equal(found.verdict, "ok");
  const show = (name: keyof typeof found.members) => {
    const [start, end] = found.members[name]!;
    return new TextDecoder().decode(bytes.subarray(start, end));
  };
  assert.equal(
    show("id"),
    "5",
    "the last id wins, as in JSON.parse; a nested id is not the envelope's",
  );
  assert.equal(show("method"), '"a.b"');
  assert.equal(show("params"), '{"x":[1]}');
  assert.equal(show("jsonrpc"), '"2.0"');
});

Deno.test("scanJson() is linear on adversarial input: 16 MiB of its worst shapes", () => {
  const size = 16 * 1024 * 1024;
  for (
    const text of [
      "[".repeat(size),
      '"' + "\\\\".repeat(size / 2 - 1) + '"',
      "[" + "0,".repeat(size / 2 - 1) + "0]",
      '{"id":1,"result":"' + "x".repeat(size - 20) + '"}',
    ]
  ) {
    // No timing is asserted (the suite runs on a shared machine); a quadratic
    // pass over 16 MiB would not finish within the test's lifetime.
    const found = scanJson(encoder.encode(text), { maxDepth: 64, maxMembers: 1_000_000 });
    assert.ok(["ok", "not-json", "too-deep", "too-many"].includes(found.verdict));
  }
});

const LINES = [
  '{"jsonrpc":"2.0","id":1,"method":"a.b","params":[1,2]}',
  '{"jsonrpc":"2.0","method":"$/cancel","params":{"id":3}}',
  '{"jsonrpc":"2.0","id":"s","result":{"x":[1]}}',
  '{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}',
  '{"jsonrpc":"2.0","id":2,"error":{"code":"x","message":7}}',
  '{"jsonrpc":"1.0","id":5,"method":"x"}',
  '{"jsonrpc":"2.0","id":6,"result":1,"error":{"code":1,"message":"both"}}',
  '{"jsonrpc":"2.0","id":1.5,"result":1}',
  '{"jsonrpc":"2.0","id":{"a":1},"method":"m"}',
  '{"jsonrpc":"2.0","method":7}',
  '{"jsonrpc":"2.0","id":7}',
  "[1,2,3]",
  '"text"',
  // The longest id, every character escaped (1,538 bytes), and one character longer.
  `{"jsonrpc":"2.0","id":"${"\\u0041".repeat(256)}","method":"m"}`,
  `{"jsonrpc":"2.0","id":"${"\\u0041".repeat(257)}","method":"m"}`,
];

Deno.test("classifyScanned() agrees with classifyMessage() on every kind of message", () => {
  for (const line of LINES) {
    const bytes = encoder.encode(line);
    const scanned = classifyScanned(bytes, scanJson(bytes, wide));
    const parsed = classifyMessage(JSON.parse(line));
    assert.equal(scanned.kind, parsed.kind, line);
    if (scanned.kind === "invalid" && parsed.kind === "invalid") {
      assert.deepEqual([scanned.reason, scanned.id], [parsed.reason, parsed.id], line);
    } else {
      // Lazy members read the same as parsed ones.
      assert.deepEqual(
        JSON.parse(JSON.stringify((scanned as { message: unknown }).message)),
        (parsed as { message: unknown }).message,
        line,
      );
    }
  }
});

Deno.test("paramsIdOf() reads the longest id, every character escaped, from a params parsed only when read", () => {
  const id = "\\u0041".repeat(256);
  const line = `{"jsonrpc":"2.0","method":"$/progress","params":{"id":"${id}","value":"${
    "v".repeat(5000)
  }"}}`;
  const bytes = encoder.encode(line);
  const found = classifyScanned(bytes, scanJson(bytes, wide));
  assert.equal(found.kind, "notification");
  if (found.kind !== "notification") return;
  assert.equal(paramsIdOf(found.message), "A".repeat(256));
});

Deno.test("classifyScanned() refuses an over-long method unread, and reports over-cap lines with their id", () => {
  const long = encoder.encode(`{"jsonrpc":"2.0","id":4,"method":"${"m".repeat(2000)}"}`);
  const found = classifyScanned(long, scanJson(long, wide));
  assert.deepEqual(found, {
    kind: "invalid",
    reason: 'member "method" is longer than 1024 bytes',
    id: 4,
  });
  const deep = encoder.encode(`{"jsonrpc":"2.0","id":8,"result":${"[".repeat(100)}`);
  const over = classifyScanned(deep, scanJson(deep, { maxDepth: 64, maxMembers: 10 }));
  assert.equal(over.kind, "over-limit");
  assert.equal((over as { id: unknown }).id, 8);
});

// Review 71: a long `params` was read by a parse of the whole line, which built whatever lay
// beside the envelope (and members the scan read otherwise than the parse). A long member is
// parsed from its own bytes: the parses made are counted by the length of their text.
Deno.test("classifyScanned() parses a long member from its own bytes, never the whole line", () => {
  const value = `{"id":3,"value":"${"v".repeat(6000)}"}`;
  const line = `{"jsonrpc":"2.0","method":"$/progress","params":${value},"junk":"${
    "j".repeat(9000)
  }"}`;
  const bytes = encoder.encode(line);
  const found = classifyScanned(bytes, scanJson(bytes, wide));
  const parse = JSON.parse;
  const lengths: number[] = [];
  JSON.parse = (text: string, ...rest: unknown[]) => {
    lengths.push(text.length);
    return parse(text, ...(rest as []));
  };
  try {
    assert.equal((found as { message: { params: { id: number } } }).message.params.id, 3);
  } finally {
    JSON.parse = parse;
  }
  assert.deepEqual(lengths, [value.length]);
});

// Review 72: every escaped name of a params member was decoded (a TextDecoder and a JSON.parse
// each): 64 KiB of them cost four times the parse the screen saves. A name is decoded only while
// it can still read as args or call and the members are not judged already.
Deno.test("scanJson() reads escaped names without decoding them: 200 escaped keys, no parse", () => {
  // Review 72: a decode of every escaped params name cost four times the line's parse; the names
  // are now compared as they are read, escapes and all, and nothing is decoded.
  const keys = Array.from({ length: 200 }, (_, i) => `"\\u0078${i}":0`).join(",");
  const line = `{"jsonrpc":"2.0","\\u0069d":1,"method":"m","params":{${keys}}}`;
  const bytes = encoder.encode(line);
  const parse = JSON.parse;
  let parses = 0;
  JSON.parse = (text: string, ...rest: unknown[]) => {
    parses++;
    return parse(text, ...(rest as []));
  };
  let scan;
  try {
    scan = scanJson(bytes, wide);
  } finally {
    JSON.parse = parse;
  }
  assert.deepEqual(scan.paramsMembers, { args: 0, call: 0, other: 200 });
  assert.ok(scan.members.id, "the escaped id is the envelope's");
  assert.equal(parses, 0);
});

// The names that matter (the envelope's, a capability call's args and call, params.id), each
// letter written as itself or as \uXXXX in either case, beside near misses (another letter, an
// escape of another character, a BOM, a letter too many or too few): the scan names exactly the
// keys JSON.parse reads, at the top and in params. PLUGBOX_SCAN_SEED replays a run.
Deno.test("scanJson() reads every spelling of a key as JSON.parse does (5,000 random lines)", () => {
  const seed = Number(Deno.env.get("PLUGBOX_SCAN_SEED") ?? Date.now() % 1_000_000);
  const random = rng(seed);
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)];
  const hex = (c: number) => {
    const digits = c.toString(16).padStart(4, "0");
    return random() < 0.5 ? digits : digits.toUpperCase();
  };
  const spell = (word: string) => {
    let key = "";
    for (const letter of word) {
      const c = letter.charCodeAt(0);
      const roll = random();
      if (roll < 0.4) key += letter;
      else if (roll < 0.9) key += `\\u${hex(c)}`;
      else if (roll < 0.95) key += `\\u${hex(c ^ 0x20)}`; // the letter's other case
      else key += pick(["\\n", "\\/", "\uFEFF", letter.toUpperCase(), `\\u${hex(c + 1)}`]);
    }
    if (random() < 0.05) key += pick(["s", "\\u0073", "\uFEFF"]);
    if (random() < 0.05) key = key.slice(0, -1);
    return key;
  };
  const TOP = ["jsonrpc", "id", "method", "params", "result", "error", "x"];
  const INNER = ["args", "call", "id", "arg", "calls", "i"];
  for (let n = 0; n < 5_000; n++) {
    const inner = Array.from({ length: 1 + Math.floor(random() * 3) }, () => spell(pick(INNER)));
    const params = `{${inner.map((key, i) => `"${key}":${i}`).join(",")}}`;
    const top = Array.from({ length: 1 + Math.floor(random() * 3) }, () => spell(pick(TOP)));
    const line = `{${[...top.map((key, i) => `"${key}":${i}`), `"params":${params}`].join(",")}}`;
    if (!parses(line)) continue; // a letter dropped from "\\u..." may leave a bad escape
    const found = scan(line);
    const why = `seed ${seed}, line ${line}`;
    assert.equal(found.verdict, "ok", why);
    const parsed = JSON.parse(line);
    const expected = TOP.slice(0, 6).filter((name) => Object.hasOwn(parsed, name)).sort();
    assert.deepEqual(Object.keys(found.members).sort(), expected, why);
    const names = inner.map((key) => JSON.parse(`"${key}"`));
    assert.deepEqual(found.paramsMembers, {
      args: names.filter((name) => name === "args").length,
      call: names.filter((name) => name === "call").length,
      other: names.filter((name) => name !== "args" && name !== "call").length,
    }, why);
    // params.id: the value of the last key that reads as id, as the parse keeps the last.
    const lastId = names.lastIndexOf("id");
    const id = found.paramsId &&
      new TextDecoder().decode(encoder.encode(line).subarray(...found.paramsId));
    assert.equal(id, lastId === -1 ? undefined : String(lastId), why);
  }
});
