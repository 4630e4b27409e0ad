/**
 * Review 122's contract: capabilities named as members every object inherits
 * (`toString`, `valueOf`), which a host may forget to implement.
 * @module
 */

import { z } from "zod";
import { defineContract } from "@plugbox/plugbox/contract";

export const R122 = defineContract({
  name: "r122",
  version: 1,
  methods: {
    ask: z.function({ input: [z.string()], output: z.string() }),
  },
  capabilities: {
    toString: z.function({ input: [], output: z.string() }),
    valueOf: z.function({ input: [], output: z.unknown() }),
  },
});
