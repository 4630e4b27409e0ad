/**
 * The summarizer's contract: counts in the text files of one folder.
 * @module
 */

import { z } from "zod";
import { defineContract } from "@plugbox/plugbox/contract";

/** One file's summary. */
export const FileSummary = z.object({
  file: z.string(),
  lines: z.number().int().nonnegative(),
  words: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  first: z.string().max(120),
});

/** Summarises the `.md` and `.txt` files of a folder (not its subfolders). */
export const Summarizer = defineContract({
  name: "summarizer",
  version: 1,
  methods: {
    summarize: z.function({ input: [z.string().min(1)], output: z.array(FileSummary) }),
  },
});
