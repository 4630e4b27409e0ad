/**
 * Validating what a plugin sent, or a file anyone may have written (the
 * lock): zod stops at the first problem. Left to
 * itself it makes an issue for every bad element (900,000 of them for a
 * 3.6 MB array of the wrong type: half a second and about 400 MiB of the
 * host's heap, review 37), of which plugbox shows 20.
 * @module
 */

import { type z, ZodError } from "npm:zod@^4.1.0";
import { MAX_MERGE_COST, tooCostlyToMerge } from "./intersection_cost.ts";
import { FREE_DEPTH, MAX_ISSUE_DEPTH_COST, tooCostlyToFail } from "./issue_cost.ts";
import { messageOf } from "./thrown_text.ts";

/**
 * zod's own flag for its `validate`: a container stops before its next
 * child once one failed (arrays, objects, tuples with rest, maps, sets).
 * Not in zod's public parse options, so passed as they are; a zod without it
 * ignores it. A record still checks every entry, by zod's design (an
 * intersection may own keys it does not): 900,000 bad entries, 12.5 MB
 * within the line and member caps, cost 2.5 s and about 470 MiB while they
 * are checked (review 39), a few times what the same record costs valid.
 */
const FIRST_PROBLEM = { abortEarly: true } as unknown as z.core.ParseContext<z.core.$ZodIssue>;

/**
 * `schema.safeParse(value)`, stopping at the first problem.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { z } from "zod";
 * import { parseUntrusted } from "./untrusted_parse.ts";
 *
 * const checked = parseUntrusted(z.array(z.number()), ["a", "b", "c"]);
 * assert.equal(checked.success, false);
 * assert.equal(checked.error?.issues.length, 1);
 * ```
 */
export function parseUntrusted<T extends z.ZodType>(
  schema: T,
  value: unknown,
): Untrusted<z.output<T>> {
  // Refused before zod sees it: no deadline can end a check once begun (review 109).
  if (tooCostlyToMerge(schema, value)) {
    return refused<z.output<T>>(
      `holds objects too wide for its schema's intersection to merge (over ${MAX_MERGE_COST} keys squared)`,
    );
  }
  // Its issues, carried up through every container above them, would cost their number times
  // their depth (reviews 135, 139).
  if (tooCostlyToFail(schema, value)) {
    return refused<z.output<T>>(
      `holds too many values too deep for its schema to check (recursive or nested past ${FREE_DEPTH}: over ${MAX_ISSUE_DEPTH_COST}, each counted by its depth past ${FREE_DEPTH})`,
    );
  }
  try {
    return schema.safeParse(value, FIRST_PROBLEM);
  } catch (error) {
    // A record inside an array or a record: zod spreads its issues into one call, and 600,000
    // bad entries (5 MB, within the line cap) overran the stack. The caller's ValidationError
    // became a RangeError, exit code 1 for plug (review 81).
    if (error instanceof RangeError && /call stack/i.test(error.message)) {
      return refused<z.output<T>>("holds more invalid members than can be checked");
    }
    // The schema's own code threw (a refinement, transform or preprocess of the contract): the
    // check failed, not the value, and the failure is the caller's to place (review 145: thrown
    // on, a progress report's check killed its plugin as one that "broke the protocol", and a
    // capability's answered the plugin with the host's own exception).
    return checkThrew<z.output<T>>(error);
  }
}

/**
 * A failed check for a schema whose own code threw `error`: one issue at the root naming what it
 * threw, and `threw` holding it.
 */
export function checkThrew<T>(error: unknown): Untrusted<T> {
  const message = messageOf(error);
  return {
    // Neutralised where it is shown, as every issue's message is (toIssues).
    ...refused<T>(`its schema's own check threw: ${message.slice(0, 200)}`),
    threw: error,
  };
}

/** What {@linkcode parseUntrusted} answers: `threw` holds what the schema's own code threw. */
export type Untrusted<T> = z.ZodSafeParseResult<T> & { threw?: unknown };

/** A failed check with one issue at the root: a value plugbox would not, or could not, check. */
function refused<T>(message: string): Untrusted<T> {
  const issue = { code: "custom", path: [], message } as unknown as z.core.$ZodIssue;
  return { success: false, error: new ZodError([issue]) } as Untrusted<T>;
}
