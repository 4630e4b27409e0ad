/**
 * Review 124: the contract of the re-entering plugin. `deeper` is the
 * host's capability; the host's implementation calls `dive` again (or, for
 * a negative number, `ping`), so each call goes round through the host.
 * @module
 */

import { z } from "zod";
import { defineContract, stream } from "@plugbox/plugbox/contract";

export const R124 = defineContract({
  name: "r124",
  version: 1,
  methods: {
    dive: z.function({ input: [z.number()], output: z.number() }),
    items: z.function({ input: [z.number()], output: stream(z.number()) }),
    ping: z.function({ input: [], output: z.string() }),
  },
  capabilities: {
    deeper: z.function({ input: [z.number()], output: z.number() }),
  },
});
