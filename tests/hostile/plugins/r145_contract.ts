/**
 * Review 145's contract: schemas whose checks throw (a refinement, a
 * transform, a preprocess) on the value 13 and pass every other, on each
 * side a check runs: a method's result, a stream's items, a progress report
 * and a capability's arguments and result.
 * @module
 */

import { z } from "zod";
import { defineContract, stream } from "@plugbox/plugbox/contract";

/** A number whose refinement throws for 13. */
const refined = z.number().refine((n) => {
  if (n === 13) throw new Error("the refinement threw on 13");
  return true;
});
/** A number whose transform throws for 13. */
const transformed = z.number().transform((n) => {
  if (n === 13) throw new Error("the transform threw on 13");
  return n;
});
/** A number whose preprocess throws for 13. */
const preprocessed = z.preprocess((n) => {
  if (n === 13) throw new Error("the preprocess threw on 13");
  return n;
}, z.number());

export const R145 = defineContract({
  name: "r145",
  version: 1,
  methods: {
    /** Answers `n`, checked by the refinement, the transform, or the preprocess. */
    refined: z.function({ input: [z.number()], output: refined }),
    transformed: z.function({ input: [z.number()], output: transformed }),
    preprocessed: z.function({ input: [z.number()], output: preprocessed }),
    /** Streams `n` three times. */
    items: z.function({ input: [z.number()], output: stream(refined) }),
    /** Reports `n` as progress, then answers "done". */
    reports: z.function({ input: [z.number()], output: z.string() }),
    /** Asks the host's `take(n)` and answers what it answered, or its error's message. */
    asks: z.function({ input: [z.number()], output: z.string() }),
    /** Asks the host's `give(n)`, likewise. */
    gives: z.function({ input: [z.number()], output: z.string() }),
    echo: z.function({ input: [z.number()], output: z.number() }),
    /** Takes `n`, checked by the refinement on the host's side first. */
    takes: z.function({ input: [refined], output: z.number() }),
  },
  capabilities: {
    take: z.function({ input: [refined], output: z.number() }),
    give: z.function({ input: [z.number()], output: transformed }),
  },
  progress: { reports: z.object({ n: refined }) },
});
