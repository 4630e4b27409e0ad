/**
 * Review 151: the contract of a plugin that calls the host's capabilities and reports what it got
 * back. `bump`'s result schema rewrites its value (`.overwrite`), as the plugin's own copy does
 * too: an honest plugin. `row`'s trims a name and strips the rest; the plugin's own copy
 * (`R151Plugin`) keeps whatever `row` answers, as a hostile one may. `site`'s argument is checked
 * by a refinement that throws on what is no URL; the plugin's copy takes any string.
 * @module
 */

import { z } from "zod";
import { defineContract } from "@plugbox/plugbox/contract";

/** Cents as the contract reads them: whole units written by the host, times 100. */
const bump = z.function({
  input: [z.number()],
  output: z.object({ cents: z.number().overwrite((units) => units * 100) }),
});

const methods = {
  /** Calls `capability(arg)`: the answer as JSON, or the HostError's code and message. */
  ask: z.function({ input: [z.string(), z.unknown()], output: z.string() }),
  /** Calls `site` `count` times with `size` characters that are no URL; how many were answered. */
  flood: z.function({ input: [z.number(), z.number()], output: z.number() }),
};

const site = (input: z.ZodString) => z.function({ input: [input], output: z.string() });

export const R151 = defineContract({
  name: "r151",
  version: 1,
  methods,
  capabilities: {
    bump,
    row: z.function({
      input: [z.string()],
      output: z.object({ name: z.string().trim().toLowerCase() }),
    }),
    site: site(z.string().refine((url) => new URL(url).protocol === "https:")),
  },
});

export const R151Plugin = defineContract({
  name: "r151",
  version: 1,
  methods,
  capabilities: {
    bump,
    row: z.function({ input: [z.string()], output: z.unknown() }),
    site: site(z.string()),
  },
});
