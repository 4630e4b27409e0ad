/**
 * Finds import-like string literals that name absolute paths in a plugin's
 * source text, to name suspects when `deno info` fails. The text is the
 * plugin's, so the search is linear: no regular expression, every
 * character passed a bounded number of times.
 * @module
 */

const KEYWORDS = ["import", "from"];

function isQuote(c: number): boolean {
  return c === 0x22 || c === 0x27 || c === 0x60; // " ' `
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0b || c === 0x0c;
}

/**
 * Specifiers written as `import "/abs"`, `from '/abs'`, `import("file:///abs")`
 * and the like, at most `max`, each at most 4096 characters.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findAbsoluteImports } from "./import_suspects.ts";
 * const text = 'import x from "/etc/passwd";\nconst y = await import( `file:///dev/zero` );';
 * assert.deepEqual(findAbsoluteImports(text), ["/etc/passwd", "file:///dev/zero"]);
 * ```
 */
export function findAbsoluteImports(text: string, max = 5): string[] {
  const found: string[] = [];
  const next = KEYWORDS.map((word) => text.indexOf(word));
  let nextQuote = -1; // the first quote after the last opening quote looked at; only moves forward
  while (found.length < max) {
    // The nearest keyword occurrence still ahead.
    let k = -1;
    for (let i = 0; i < KEYWORDS.length; i++) {
      if (next[i] !== -1 && (k === -1 || next[i] < next[k])) k = i;
    }
    if (k === -1) break;
    const at = next[k];
    next[k] = text.indexOf(KEYWORDS[k], at + 1);
    let i = at + KEYWORDS[k].length;
    while (i < text.length && isSpace(text.charCodeAt(i))) i++;
    if (text.charCodeAt(i) === 0x28) { // (
      i++;
      while (i < text.length && isSpace(text.charCodeAt(i))) i++;
    }
    if (!isQuote(text.charCodeAt(i))) continue;
    const start = i + 1;
    const absolute = text.charCodeAt(start) === 0x2f || text.startsWith("file:///", start);
    if (!absolute) continue;
    if (nextQuote < start) {
      nextQuote = start;
      while (nextQuote < text.length && !isQuote(text.charCodeAt(nextQuote))) nextQuote++;
    }
    if (nextQuote >= text.length) break; // no closing quote anywhere ahead
    if (nextQuote - start > 4096) continue;
    found.push(text.slice(start, nextQuote));
    // The search goes on after this literal, not inside it.
    for (let w = 0; w < KEYWORDS.length; w++) {
      if (next[w] !== -1 && next[w] <= nextQuote) {
        next[w] = text.indexOf(KEYWORDS[w], nextQuote + 1);
      }
    }
  }
  return found;
}
