/**
 * The fetcher's contract: one HTTP GET, bounded.
 * @module
 */

import { z } from "zod";
import { defineContract } from "@plugbox/plugbox/contract";

/** Fetches a URL and returns its status, type and the start of its body. */
export const Fetcher = defineContract({
  name: "fetcher",
  version: 1,
  methods: {
    fetchText: z.function({
      input: [z.url({ protocol: /^https?$/ })],
      output: z.object({
        status: z.number().int(),
        contentType: z.string(),
        body: z.string().max(64 * 1024),
      }),
    }),
  },
});
