/**
 * Review 90's contract: a plain call with progress, and a stream with
 * progress, served by hand by r90_raw.ts.
 * @module
 */

import { z } from "zod";
import { defineContract, stream } from "../../../contract.ts";

export const R90 = defineContract({
  name: "r90",
  version: 1,
  methods: {
    slow: z.function({ input: [z.string()], output: z.string() }),
    items: z.function({ input: [z.string()], output: stream(z.number()) }),
  },
  progress: { slow: z.number(), items: z.number() },
});
