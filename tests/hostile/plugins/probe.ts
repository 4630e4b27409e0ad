/**
 * The contract hostile plugins serve: `attempt` runs the attack and says
 * what happened, so a test can check the outcome under each layer.
 * @module
 */

import { z } from "zod";
import { defineContract } from "@plugbox/plugbox/contract";

/** One attack, run on request. */
export const Probe = defineContract({
  name: "probe",
  version: 1,
  methods: {
    attempt: z.function({ input: [z.string().optional()], output: z.string() }),
  },
});

/** Where tests put the secrets the attacks go after. */
export const SECRET_DIR = "/tmp/plugbox-hostile";
