/**
 * Review 65: the contract its attacking and honest plugins serve. `attempt`
 * runs a mode; the capabilities are what a host might offer: one that takes
 * as long as the host says (and ignores its signal), a cheap one, and two
 * whose arguments do not survive JSON unchanged.
 * @module
 */

import { z } from "zod";
import { defineContract } from "@plugbox/plugbox/contract";

export const R65 = defineContract({
  name: "r65",
  version: 1,
  methods: {
    attempt: z.function({ input: [z.string().optional()], output: z.string() }),
    double: z.function({ input: [z.number()], output: z.number() }),
  },
  capabilities: {
    /** Answers when the host releases it; ignores cancellation (a slow query, say). */
    hold: z.function({ input: [z.number()], output: z.number() }),
    /** `hold`, given an object: zod keeps its known members and drops the rest. */
    holdObject: z.function({ input: [z.object({ n: z.number() })], output: z.number() }),
    /** The string's length: cheap. */
    size: z.function({ input: [z.string()], output: z.number() }),
    /** A timestamped note: z.date() passes in the SDK and travels as a string. */
    stamp: z.function({ input: [z.object({ at: z.date() })], output: z.number() }),
    /** A sparse list: undefined inside an array travels as null. */
    note: z.function({ input: [z.array(z.number().optional())], output: z.number() }),
  },
});
