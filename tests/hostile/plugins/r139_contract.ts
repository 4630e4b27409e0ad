/**
 * Review 139's contract: results whose schemas carry a failed check's issues
 * as deep as a value goes, and were not judged to: a tree that holds itself
 * through a union of options, and a tree written out 30 levels deep that
 * holds nothing of itself. Served by hand by r139_raw.ts.
 * @module
 */

import { z } from "zod";
import { defineContract } from "../../../contract.ts";

/** One node of a tree, or a bare name in its place. */
export type UnionNode = string | { name: string; tags: string[]; children: UnionNode[] };

const UnionNode: z.ZodType<UnionNode> = z.union([
  z.string(),
  z.object({
    name: z.string(),
    tags: z.array(z.string().min(1)),
    children: z.array(z.lazy(() => UnionNode)),
  }),
]);

/** A tree's schema `depth` nodes deep, written out: no schema in it holds itself. */
export function writtenOut(depth: number): z.ZodType {
  let node: z.ZodType = z.object({ name: z.string(), tags: z.array(z.string().min(1)) });
  for (let level = 0; level < depth; level++) {
    node = z.object({
      name: z.string(),
      tags: z.array(z.string().min(1)),
      children: z.array(node),
    });
  }
  return node;
}

export const R139 = defineContract({
  name: "r139",
  version: 1,
  methods: {
    union: z.function({ input: [z.number(), z.number()], output: UnionNode }),
    written: z.function({ input: [z.number(), z.number()], output: writtenOut(30) }),
  },
});
