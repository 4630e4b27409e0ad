/**
 * A linear, allocation-light pass over one line of bytes that says whether
 * it is JSON, whether it stays within the structure caps (nesting depth and
 * members), and where the top-level object's envelope members lie, all
 * before (and usually instead of) building the value with `JSON.parse`.
 * Every byte is looked at a bounded number of times: no regex, no recursion.
 * @module
 */

/** Caps on the shape of one message, checked before it is parsed. */
export interface StructureLimits {
  /** Deepest nesting of arrays and objects; the top-level object is depth 1. */
  maxDepth: number;
  /** Most members in one message: every array element and object property, at any depth. */
  maxMembers: number;
}

/** The envelope members a receiver looks at without parsing the rest. */
export type EnvelopeMember = "jsonrpc" | "id" | "method" | "params" | "result" | "error";

/**
 * What {@linkcode scanJson} found: `"ok"` (JSON within the caps), `"blank"`
 * (only whitespace), `"not-json"`, `"too-deep"` or `"too-many"`.
 */
export type ScanVerdict = "ok" | "blank" | "not-json" | "too-deep" | "too-many";

/** The result of {@linkcode scanJson}. */
export interface JsonScan {
  /** The verdict; see {@linkcode ScanVerdict}. */
  verdict: ScanVerdict;
  /** True when the top-level value is an object. */
  object: boolean;
  /**
   * Byte ranges `[start, end)` of the top-level object's envelope members
   * seen before the scan ended (for an over-cap line, those before the cap
   * was passed). With duplicate keys the last one wins, as in `JSON.parse`.
   */
  members: Partial<Record<EnvelopeMember, [number, number]>>;
  /**
   * With `"ok"`: how many values the top-level one holds, at every depth
   * (members and elements). A parse that yields fewer dropped a duplicate key.
   */
  values?: number;
  /**
   * True when the top-level object has a member that is not an envelope
   * member, or has one twice: what a parse of the whole line would build,
   * or drop, for nothing (a receiver parses only the members it reads).
   */
  stray?: boolean;
  /**
   * When the top-level `params` is an object: how many of its members are
   * named `args`, how many `call`, and how many otherwise, the names read as
   * JSON reads them (escapes included).
   */
  paramsMembers?: { args: number; call: number; other: number };
  /**
   * When the top-level `params` is an object with a member `id` (read as
   * JSON reads it, the last one winning): the byte range of its value, or
   * `null` when that is an object or an array (no id). A stream item's or a
   * progress report's call, found without a second scan of its `params`.
   */
  paramsId?: [number, number] | null;
}

const OBJECT = 1;
const ARRAY = 2;
// Parser states.
const VALUE = 0;
const VALUE_OR_CLOSE = 1;
const KEY_OR_CLOSE = 2;
const KEY = 3;
const COLON = 4;
const COMMA_OR_CLOSE = 5;
const END = 6;

const Q = 0x22; // "
const BACKSLASH = 0x5c;

const SPACE = new Uint8Array(256);
for (const c of [0x20, 0x0a, 0x0d, 0x09]) SPACE[c] = 1;

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isHex(c: number): boolean {
  return isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** Index after the string starting at `i` (a quote), or -1 when it is not a JSON string. */
function skipString(b: Uint8Array, i: number, end: number): number {
  i++;
  while (i < end) {
    const c = b[i];
    if (c >= 0x20 && c !== Q && c !== BACKSLASH) {
      i++;
      continue;
    }
    if (c === Q) return i + 1;
    if (c === BACKSLASH) {
      const n = b[i + 1];
      if (n === 0x75) { // \uXXXX
        if (i + 5 >= end) return -1;
        if (!isHex(b[i + 2]) || !isHex(b[i + 3]) || !isHex(b[i + 4]) || !isHex(b[i + 5])) return -1;
        i += 6;
      } else if (
        n === Q || n === BACKSLASH || n === 0x2f || n === 0x62 || n === 0x66 || n === 0x6e ||
        n === 0x72 || n === 0x74
      ) {
        i += 2;
      } else return -1;
    } else if (c < 0x20) return -1; // raw control characters are not JSON
    else i++;
  }
  return -1;
}

/** Index after the number starting at `i`, or -1 when it is not a JSON number. */
function skipNumber(b: Uint8Array, i: number, end: number): number {
  if (b[i] === 0x2d) i++; // -
  if (i >= end) return -1;
  if (b[i] === 0x30) i++;
  else if (isDigit(b[i])) { while (i < end && isDigit(b[i])) i++; }
  else return -1;
  if (i < end && b[i] === 0x2e) { // .
    i++;
    if (i >= end || !isDigit(b[i])) return -1;
    while (i < end && isDigit(b[i])) i++;
  }
  if (i < end && (b[i] === 0x65 || b[i] === 0x45)) { // e E
    i++;
    if (i < end && (b[i] === 0x2b || b[i] === 0x2d)) i++;
    if (i >= end || !isDigit(b[i])) return -1;
    while (i < end && isDigit(b[i])) i++;
  }
  return i;
}

const LITERALS = [[0x74, 0x72, 0x75, 0x65], [0x66, 0x61, 0x6c, 0x73, 0x65], [
  0x6e,
  0x75,
  0x6c,
  0x6c,
]];

/** Index after `true`, `false` or `null` at `i`, or -1. */
function skipLiteral(b: Uint8Array, i: number, end: number): number {
  const word = b[i] === 0x74 ? LITERALS[0] : b[i] === 0x66 ? LITERALS[1] : LITERALS[2];
  if (i + word.length > end) return -1;
  for (let k = 0; k < word.length; k++) if (b[i + k] !== word[k]) return -1;
  return i + word.length;
}

const NAMES: readonly EnvelopeMember[] = ["jsonrpc", "id", "method", "params", "result", "error"];
const NAME_BYTES = NAMES.map((name) => new TextEncoder().encode(name));

const ARGS = new TextEncoder().encode("args");
const CALL = new TextEncoder().encode("call");
const ID = new TextEncoder().encode("id");

/** The hex digit `c` stands for. */
function hexValue(c: number): number {
  return c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57;
}

/**
 * Whether a key (the bytes between its quotes, a valid JSON string's) reads
 * as `word`, a word of ASCII letters, escapes included, without a decode:
 * only `\uXXXX` can stand for a letter, so a key is compared as it is read,
 * at most six bytes a letter (reviews 71 and 72: a decode of every escaped
 * key cost four times the line's parse). The one reading of a key for the
 * envelope's names, a capability call's and `params.id`.
 */
function keyIs(b: Uint8Array, start: number, end: number, word: Uint8Array): boolean {
  if (end - start < word.length || end - start > 6 * word.length) return false;
  let k = start;
  for (let w = 0; w < word.length; w++) {
    if (k >= end) return false;
    if (b[k] !== BACKSLASH) {
      if (b[k++] !== word[w]) return false;
      continue;
    }
    if (b[k + 1] !== 0x75) return false; // \n, \t, \/ and the rest are no letter
    let value = 0;
    for (let h = 2; h < 6; h++) value = value * 16 + hexValue(b[k + h]);
    if (value !== word[w]) return false;
    k += 6;
  }
  return k === end;
}

/** Counts a member of `params` by its name: `args`, `call`, or other. */
function countParamsMember(
  counts: NonNullable<JsonScan["paramsMembers"]>,
  b: Uint8Array,
  start: number,
  end: number,
): void {
  if (keyIs(b, start, end, ARGS)) counts.args++;
  else if (keyIs(b, start, end, CALL)) counts.call++;
  else counts.other++;
}

/** Which envelope member a key (the bytes between its quotes) names, if any. */
function envelopeName(b: Uint8Array, start: number, end: number): EnvelopeMember | undefined {
  for (let n = 0; n < NAMES.length; n++) if (keyIs(b, start, end, NAME_BYTES[n])) return NAMES[n];
  return undefined;
}

// One stack per thread, reused: nesting is capped, so it never grows.
let stack = new Uint8Array(128);

/**
 * Scans `bytes` (one line, newline excluded) in one linear pass: whether it
 * is JSON exactly as `JSON.parse` would accept it, whether it stays within
 * `limits`, and where the top-level envelope members are. It stops at the
 * first cap passed, so an over-cap line costs no more than the cap.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { scanJson } from "./json_scan.ts";
 * const line = new TextEncoder().encode('{"jsonrpc":"2.0","id":7,"result":[1,2]}');
 * const scan = scanJson(line, { maxDepth: 8, maxMembers: 100 });
 * assert.equal(scan.verdict, "ok");
 * const [start, end] = scan.members.id!;
 * assert.equal(new TextDecoder().decode(line.subarray(start, end)), "7");
 * assert.equal(scanJson(new TextEncoder().encode("[[[1]]]"), { maxDepth: 2, maxMembers: 9 }).verdict, "too-deep");
 * ```
 */
export function scanJson(bytes: Uint8Array, limits: StructureLimits): JsonScan {
  const b = bytes;
  const end = b.length;
  if (stack.length < limits.maxDepth + 2) stack = new Uint8Array(limits.maxDepth + 2);
  const members: JsonScan["members"] = {};
  const result: JsonScan = { verdict: "not-json", object: false, members };
  let state = VALUE;
  let depth = 0;
  let count = 0;
  let i = 0;
  let member: EnvelopeMember | undefined; // the top-level key whose value is being read
  let memberStart = 0;
  let seen = false;
  let envelopeSeen = 0; // a bit per envelope member met
  let paramsMembers: JsonScan["paramsMembers"];
  let paramsIdNext = false; // the value read next is `params.id`
  while (i < end) {
    const c = b[i];
    if (SPACE[c] === 1) {
      i++;
      continue;
    }
    if (!seen) {
      seen = true;
      result.object = c === 0x7b;
    }
    if (state === VALUE || state === VALUE_OR_CLOSE) {
      if (state === VALUE_OR_CLOSE && c === 0x5d) { // ]
        depth--;
        i++;
        state = depth === 0 ? END : COMMA_OR_CLOSE;
        if (depth === 1 && member !== undefined) members[member] = [memberStart, i];
        continue;
      }
      if (depth > 0 && ++count > limits.maxMembers) return (result.verdict = "too-many", result);
      if (depth === 1 && stack[1] === OBJECT) memberStart = i;
      const paramsId = paramsIdNext;
      paramsIdNext = false;
      const valueStart = i;
      if (c === 0x7b || c === 0x5b) { // { [
        if (depth === 1 && member === "params" && c === 0x7b) {
          paramsMembers = result.paramsMembers = { args: 0, call: 0, other: 0 };
        }
        if (paramsId) result.paramsId = null;
        if (++depth > limits.maxDepth) return (result.verdict = "too-deep", result);
        stack[depth] = c === 0x7b ? OBJECT : ARRAY;
        state = c === 0x7b ? KEY_OR_CLOSE : VALUE_OR_CLOSE;
        i++;
        continue;
      }
      if (c === Q) i = skipString(b, i, end);
      else if (isDigit(c) && i + 1 < end && (b[i + 1] === 0x2c || b[i + 1] === 0x5d)) i++;
      else if (c === 0x2d || isDigit(c)) i = skipNumber(b, i, end);
      else if (c === 0x74 || c === 0x66 || c === 0x6e) i = skipLiteral(b, i, end);
      else return result;
      if (i < 0) return result;
      if (paramsId) result.paramsId = [valueStart, i];
      if (depth === 0) state = END;
      else {
        state = COMMA_OR_CLOSE;
        if (depth === 1 && member !== undefined && stack[1] === OBJECT) {
          members[member] = [memberStart, i];
        }
      }
      continue;
    }
    if (state === KEY_OR_CLOSE || state === KEY) {
      if (state === KEY_OR_CLOSE && c === 0x7d) { // }
        depth--;
        i++;
        state = depth === 0 ? END : COMMA_OR_CLOSE;
        if (depth === 1 && member !== undefined) members[member] = [memberStart, i];
        continue;
      }
      if (c !== Q) return result;
      const keyStart = i;
      i = skipString(b, i, end);
      if (i < 0) return result;
      if (depth === 1) {
        member = envelopeName(b, keyStart + 1, i - 1);
        // A later `params` wins in the parse: an earlier one's id is not its (review 97).
        if (member === "params") result.paramsId = undefined;
        const bit = member === undefined ? 0 : 1 << NAMES.indexOf(member);
        if (bit === 0 || (envelopeSeen & bit) !== 0) result.stray = true;
        envelopeSeen |= bit;
      } else if (depth === 2 && member === "params" && stack[1] === OBJECT) {
        // The capability call's own members (args, call), judged before its parse (review 69).
        countParamsMember(paramsMembers!, b, keyStart + 1, i - 1);
        paramsIdNext = keyIs(b, keyStart + 1, i - 1, ID);
      }
      state = COLON;
      continue;
    }
    if (state === COLON) {
      if (c !== 0x3a) return result;
      i++;
      state = VALUE;
      continue;
    }
    if (state === COMMA_OR_CLOSE) {
      const inside = stack[depth];
      if (c === 0x2c) { // ,
        i++;
        state = inside === OBJECT ? KEY : VALUE;
        continue;
      }
      if ((c === 0x7d && inside === OBJECT) || (c === 0x5d && inside === ARRAY)) {
        depth--;
        i++;
        state = depth === 0 ? END : COMMA_OR_CLOSE;
        if (depth === 1 && member !== undefined && stack[1] === OBJECT) {
          members[member] = [memberStart, i];
        }
        continue;
      }
      return result;
    }
    return result; // END: something after the value
  }
  if (!seen) result.verdict = "blank";
  else if (state === END) {
    result.verdict = "ok";
    result.values = count;
  }
  return result;
}

/**
 * How many values `value` holds at every depth, as {@linkcode scanJson}
 * counts them (each array element and own object member, not `value`
 * itself). Less than a line's `values` means its parse or a schema dropped
 * some: a key given twice, a member a schema strips. Counting stops once it
 * passes `limit`, so a cycle (a schema's transform can make one) ends.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { scanJson, valuesIn } from "./json_scan.ts";
 * const text = '{"a":[1,{"b":2}],"a":0}';
 * const scan = scanJson(new TextEncoder().encode(text), { maxDepth: 8, maxMembers: 99 });
 * assert.equal(scan.values, 5);
 * assert.equal(valuesIn(JSON.parse(text)), 1); // the first "a" was dropped
 * ```
 */
export function valuesIn(value: unknown, limit = Infinity): number {
  let count = 0;
  const open: object[] = [];
  if (typeof value === "object" && value !== null) open.push(value);
  while (open.length > 0 && count <= limit) {
    const next = open.pop()!;
    // Indexed, and no own-property check: 2 MiB of numbers counted in 2 ms, not 19 (a parse takes
    // 12). Parsed and schema-made objects have no enumerable members but their own.
    if (Array.isArray(next)) {
      const length = next.length;
      count += length;
      for (let i = 0; i < length; i++) {
        const item = next[i];
        if (typeof item === "object" && item !== null) open.push(item);
      }
      continue;
    }
    for (const key in next) {
      count++;
      const item = (next as Record<string, unknown>)[key];
      if (typeof item === "object" && item !== null) open.push(item);
    }
  }
  return count;
}
