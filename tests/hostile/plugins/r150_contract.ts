// Review 150: what r150_fork.ts serves: `attempt` (see that file) and `ticks`, a stream that
// yields a number every 20 ms until the host stops reading or the plugin ends.
import { z } from "zod";
import { defineContract, stream } from "@plugbox/plugbox/contract";

export const R150 = defineContract({
  name: "r150",
  version: 1,
  methods: {
    attempt: z.function({ input: [z.string()], output: z.string() }),
    ticks: z.function({ input: [], output: stream(z.number()) }),
  },
});
