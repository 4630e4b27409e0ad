/**
 * Review 66: the contract its attacking and honest plugins serve. `attempt`
 * runs a mode; the capabilities are what a host might offer: a slow one
 * (ignores its signal), a cheap one taking a string, a cheap one taking an
 * object (zod drops members it does not know), one taking nothing, and a
 * slow one taking a value to store.
 * @module
 */

import { z } from "zod";
import { defineContract } from "@plugbox/plugbox/contract";

export const R66 = defineContract({
  name: "r66",
  version: 1,
  methods: {
    attempt: z.function({ input: [z.string().optional()], output: z.string() }),
    double: z.function({ input: [z.number()], output: z.number() }),
  },
  capabilities: {
    /** Answers when the host releases it; ignores cancellation (a slow query, say). */
    hold: z.function({ input: [z.number()], output: z.number() }),
    /** The string's length: cheap. */
    size: z.function({ input: [z.string()], output: z.number() }),
    /** An object's `n`: cheap; zod keeps its known members and drops the rest. */
    touch: z.function({ input: [z.object({ n: z.number() })], output: z.number() }),
    /** The host's clock: no arguments. */
    now: z.function({ input: [], output: z.number() }),
    /** Stores a value: takes as long as the host says (a write to a slow disk, say). */
    store: z.function({ input: [z.string(), z.string()], output: z.number() }),
  },
});
