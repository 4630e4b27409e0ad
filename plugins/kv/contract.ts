/**
 * The key-value store's contract. Keys are checked by the contract itself,
 * so no key can name a path outside the store.
 * @module
 */

import { z } from "zod";
import { defineContract } from "@plugbox/plugbox/contract";

/** A key: letters, digits, "_" and "-" only. */
export const Key = z.string().regex(
  /^[A-Za-z0-9_-]{1,64}$/,
  "must be 1-64 letters, digits, _ or -",
);

/** Any JSON value. */
export const Json: z.ZodType<unknown> = z.json();

/** A key-value store kept in one folder. */
export const Kv = defineContract({
  name: "kv",
  version: 1,
  methods: {
    set: z.function({ input: [Key, Json], output: z.void() }),
    get: z.function({ input: [Key], output: Json.nullable() }),
    delete: z.function({ input: [Key], output: z.boolean() }),
    keys: z.function({ input: [], output: z.array(z.string()) }),
  },
});
