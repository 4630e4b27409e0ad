/**
 * Review 147: the contract of a plugin that calls the host's capability and
 * reports what it got back, and reports progress after its answer. The
 * plugin's own copy (`R147Plugin`) takes whatever `load` answers: a contract
 * file is the plugin's code, and a hostile one may keep what the host's strips.
 * @module
 */

import { z } from "zod";
import { defineContract, stream } from "@plugbox/plugbox/contract";

const methods = {
  /** Calls `load(key)`: the answer as JSON, or the HostError's code, name and message. */
  ask: z.function({ input: [z.string()], output: z.string() }),
  /** Answers at once, then reports progress `count` times, 10 ms apart. */
  late: z.function({ input: [z.number()], output: z.string() }),
  /** Yields `count` numbers. */
  count: z.function({ input: [z.number()], output: stream(z.number()) }),
  /** Yields `count` numbers, each the name `load` answers for it, read as a number. */
  relay: z.function({ input: [z.number()], output: stream(z.number()) }),
  /** How many late reports were made so far. */
  reported: z.function({ input: [], output: z.number() }),
};

export const R147 = defineContract({
  name: "r147",
  version: 1,
  methods,
  progress: { late: z.number() },
  capabilities: {
    load: z.function({ input: [z.string()], output: z.object({ name: z.string() }) }),
  },
});

export const R147Plugin = defineContract({
  name: "r147",
  version: 1,
  methods,
  progress: { late: z.number() },
  capabilities: { load: z.function({ input: [z.string()], output: z.unknown() }) },
});
