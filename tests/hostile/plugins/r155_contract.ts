// Review 155: what r155_plugin.ts serves: `attempt` (see that file) and `fetch`, through the
// host's fetch capability.
import { z } from "zod";
import { defineContract, hostFetchCapability } from "@plugbox/plugbox/contract";

export const R155 = defineContract({
  name: "r155",
  version: 1,
  methods: {
    attempt: z.function({ input: [z.string()], output: z.string() }),
    fetch: z.function({ input: [z.string()], output: z.string() }),
  },
  capabilities: { fetch: hostFetchCapability },
});
