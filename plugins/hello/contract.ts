/**
 * The seed's SayHello contract, plus one method that reads a file so the
 * demo can show a denied permission.
 * @module
 */

import { z } from "zod";
import { defineContract } from "@plugbox/plugbox/contract";

/** Greets by name; `readGreeting` returns the first line of a text file. */
export const Greeter = defineContract({
  name: "greeter",
  version: 1,
  methods: {
    sayHello: z.function({ input: [z.string()], output: z.string() }),
    readGreeting: z.function({ input: [z.string()], output: z.string() }),
  },
});
