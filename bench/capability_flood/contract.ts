/**
 * The capability-cost benchmark's contract: the plugin's `run` makes
 * capability calls to the host's `take` until it is killed.
 * @module
 */

import { z } from "zod";
import { defineContract } from "@plugbox/plugbox/contract";

export const CapFlood = defineContract({
  name: "capflood",
  version: 1,
  methods: { run: z.function({ input: [z.number()], output: z.number() }) },
  capabilities: { take: z.function({ input: [z.string()], output: z.number() }) },
});
