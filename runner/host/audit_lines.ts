/**
 * Deno's audit file as lines: bytes split at newlines, each line parsed as
 * one permission check. A line too long to keep (a check of a huge value)
 * keeps only its kind and size; anything else is not a check.
 * @module
 */

/** Longest line kept whole: Deno's lines carry at most a 4 KiB path, JSON-escaped. */
export const MAX_LINE = 64 * 1024;
const NEWLINE = 0x0a;

/** One permission check as Deno wrote it. */
export interface CheckLine {
  kind: string;
  value: string | null;
}

function parseCheck(line: string): CheckLine | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof raw !== "object" || raw === null) return undefined;
  const { permission, value } = raw as Record<string, unknown>;
  if (typeof permission !== "string" || !/^[a-z]{1,32}$/.test(permission)) return undefined;
  if (value !== null && typeof value !== "string") return undefined;
  return { kind: permission, value };
}

/** A check whose line passed the cap: its kind, and its value's size in place of the value. */
function tooLong(head: string, size: number): CheckLine | undefined {
  const kind = /^\{"v":1,"datetime":"[^"]{0,64}","permission":"([a-z]{1,32})","value":"/
    .exec(head)?.[1];
  return kind ? { kind, value: `(a value of ${size} bytes, too long to record)` } : undefined;
}

/**
 * Splits bytes into checks, across reads.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CheckLines } from "./audit_lines.ts";
 * const lines = new CheckLines();
 * const seen: unknown[] = [];
 * lines.take(new TextEncoder().encode('{"permission":"env","value":"A"}\nnot json\n'), (c) => seen.push(c));
 * assert.deepEqual(seen, [{ kind: "env", value: "A" }, undefined]);
 * ```
 */
export class CheckLines {
  #parts: Uint8Array[] = [];
  #kept = 0;
  #size = 0;
  #cut = false;
  #decoder = new TextDecoder();

  /** Calls `emit` with each complete line's check, or `undefined` for a line that is not one. */
  take(chunk: Uint8Array, emit: (check: CheckLine | undefined) => void): void {
    let start = 0;
    let newline = chunk.indexOf(NEWLINE);
    while (newline !== -1) {
      this.#keep(chunk.subarray(start, newline));
      this.#end(emit);
      start = newline + 1;
      newline = chunk.indexOf(NEWLINE, start);
    }
    this.#keep(chunk.subarray(start));
  }

  /** Whether a line has begun and not ended (the writer died in the middle of it). */
  get pending(): boolean {
    return this.#size > 0;
  }

  #keep(piece: Uint8Array): void {
    this.#size += piece.length;
    if (this.#cut || piece.length === 0) return;
    if (this.#kept + piece.length > MAX_LINE) {
      this.#cut = true;
      return;
    }
    this.#parts.push(piece.slice());
    this.#kept += piece.length;
  }

  #end(emit: (check: CheckLine | undefined) => void): void {
    const [cut, size] = [this.#cut, this.#size];
    const text = this.#parts.map((p) => this.#decoder.decode(p, { stream: true })).join("") +
      this.#decoder.decode();
    this.#parts = [];
    this.#kept = 0;
    this.#size = 0;
    this.#cut = false;
    if (text === "" && !cut) return; // an empty line says nothing
    emit(cut ? tooLong(text, size) : parseCheck(text));
  }
}
