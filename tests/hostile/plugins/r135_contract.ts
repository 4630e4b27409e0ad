/**
 * Review 135's contract: results whose schemas hold themselves, so a value
 * may go as deep as the line's depth cap: a tree of named nodes with tags
 * that must not be empty, and a trie of keys; and progress reports of such
 * a tree. Served by hand by r135_raw.ts.
 * @module
 */

import { z } from "zod";
import { defineContract } from "../../../contract.ts";

/** One node of a tree: its name, its tags, and the nodes below it. */
export interface TreeNode {
  name: string;
  tags: string[];
  children: TreeNode[];
}

const TreeNode: z.ZodType<TreeNode> = z.object({
  name: z.string(),
  tags: z.array(z.string().min(1)),
  children: z.array(z.lazy(() => TreeNode)),
});

/** A trie of keys: each key leads to the keys that follow it. */
export interface Trie {
  [key: string]: Trie;
}

const Trie: z.ZodType<Trie> = z.record(z.string(), z.lazy(() => Trie));

export const R135 = defineContract({
  name: "r135",
  version: 1,
  methods: {
    chain: z.function({ input: [z.number(), z.number()], output: TreeNode }),
    bushy: z.function({ input: [z.number(), z.number()], output: TreeNode }),
    trie: z.function({ input: [z.number(), z.number()], output: Trie }),
    watch: z.function({ input: [z.number()], output: z.string() }),
  },
  progress: { watch: TreeNode },
});
