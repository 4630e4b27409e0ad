/**
 * The second contract the Python plugin serves: a streamed greeting per
 * name, each name's title asked of the host through a capability.
 * @module
 */

import { z } from "zod";
import { defineContract, stream } from "@plugbox/plugbox/contract";

export const Greetings = defineContract({
  name: "greetings",
  version: 1,
  methods: {
    greetAll: z.function({ input: [z.array(z.string())], output: stream(z.string()) }),
  },
  capabilities: { title: z.function({ input: [z.string()], output: z.string() }) },
});
