/**
 * Review 69: a contract whose capabilities take arguments a schema
 * reshapes: a list made a Set (a transform that keeps fewer "values"),
 * and a record whose members the contract does not name are stripped.
 * @module
 */

import { z } from "zod";
import { defineContract } from "@plugbox/plugbox/contract";

export const R69 = defineContract({
  name: "r69",
  version: 1,
  methods: {
    attempt: z.function({ input: [z.string().optional()], output: z.string() }),
    double: z.function({ input: [z.number()], output: z.number() }),
  },
  capabilities: {
    /** How many distinct tags: the list arrives as a Set. */
    distinct: z.function({
      input: [z.array(z.string()).transform((tags) => new Set(tags))],
      output: z.number(),
    }),
    /** A record's `id`: zod drops what else it carries. */
    save: z.function({ input: [z.object({ id: z.number() })], output: z.number() }),
    /** Logs any JSON value (a structured log, an event payload): the host takes it as it is. */
    log: z.function({ input: [z.unknown()], output: z.number() }),
    /** Stores a value: as slow as the host's store. */
    store: z.function({ input: [z.string(), z.string()], output: z.number() }),
  },
});
