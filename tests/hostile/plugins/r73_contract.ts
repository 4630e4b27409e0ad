/**
 * Review 73: the contract its attacking and honest plugins serve. The
 * capabilities are what a host might offer: one taking nothing, one taking
 * a record (zod drops members it does not name), one taking a string, one
 * reading a stored document (its result is the host's, as large as the
 * document), and a slow store.
 * @module
 */

import { z } from "zod";
import { defineContract } from "@plugbox/plugbox/contract";

export const R73 = defineContract({
  name: "r73",
  version: 1,
  methods: {
    attempt: z.function({ input: [z.string().optional()], output: z.string() }),
  },
  capabilities: {
    /** The host's clock: no arguments. */
    now: z.function({ input: [], output: z.number() }),
    /** A record's `n`: zod keeps its known members and drops the rest. */
    touch: z.function({ input: [z.object({ n: z.number() })], output: z.number() }),
    /** The string's length. */
    size: z.function({ input: [z.string()], output: z.number() }),
    /** A stored document, by key (the host's data: a note, a page, a config). */
    read: z.function({ input: [z.string()], output: z.string() }),
    /** Review 74: the records of a listing (an index, a directory), by key. */
    list: z.function({
      input: [z.string()],
      output: z.array(z.object({ id: z.number(), name: z.string(), tags: z.array(z.string()) })),
    }),
    /** Stores a value: as slow as the host's store. */
    store: z.function({ input: [z.string(), z.string()], output: z.number() }),
  },
});
