/**
 * Review 109's contract: a result whose schema is an intersection of two
 * schemas that each keep every key (an object with an id and string fields),
 * and results whose keys are the plugin's (a record, a strict object),
 * served by hand by r109_raw.ts.
 * @module
 */

import { z } from "zod";
import { defineContract } from "../../../contract.ts";

export const R109 = defineContract({
  name: "r109",
  version: 1,
  methods: {
    fields: z.function({
      input: [z.number()],
      output: z.looseObject({ id: z.string() }).and(z.record(z.string(), z.string())),
    }),
    counts: z.function({ input: [z.string()], output: z.record(z.string(), z.number()) }),
    strict: z.function({ input: [z.string()], output: z.strictObject({ a: z.number() }) }),
  },
});
