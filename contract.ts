/**
 * The contract entry: what a shared contract file imports. Small on
 * purpose, so host and plugin can both load it.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { defineContract } from "@plugbox/plugbox/contract";
 *
 * export const Greeter = defineContract({
 *   name: "greeter",
 *   version: 1,
 *   methods: { sayHello: z.function({ input: [z.string()], output: z.string() }) },
 * });
 * ```
 * @module
 */

export {
  type ArgsOf,
  type CallContext,
  type Contract,
  type ContractApi,
  type ContractDefinition,
  type ContractImpl,
  defineContract,
  type HostArgs,
  type HostResult,
  type ImplArgs,
  type ImplResult,
  type MethodSchema,
  type MethodSchemas,
  type ReturnsOf,
  type SchemaInput,
  type SchemaOutput,
} from "./runner/contract.ts";
