/**
 * Review 94's contract: a plain call and a stream of numbers, served by hand
 * by r94_raw.ts.
 * @module
 */

import { z } from "zod";
import { defineContract, stream } from "../../../contract.ts";

export const R94 = defineContract({
  name: "r94",
  version: 1,
  methods: {
    slow: z.function({ input: [z.string()], output: z.string() }),
    items: z.function({ input: [z.string()], output: stream(z.number()) }),
  },
});
