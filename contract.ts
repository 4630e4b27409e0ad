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
  type AnySchema,
  type ApiMethod,
  type ApiReturn,
  type ArgsOf,
  type CallContext,
  type CapabilityContext,
  type CapabilityImpl,
  type Contract,
  type ContractApi,
  type ContractDefinition,
  type ContractImpl,
  defineContract,
  type HostApi,
  type HostArgs,
  type HostFetchCapability,
  hostFetchCapability,
  HostFetchRequest,
  type HostFetchRequestData,
  type HostFetchRequestInput,
  type HostFetchRequestSchema,
  HostFetchResponse,
  type HostFetchResponseData,
  type HostFetchResponseSchema,
  type HostResult,
  type ImplArgs,
  type ImplResult,
  type ImplReturn,
  type ItemStream,
  type MethodCallOptions,
  type MethodSchema,
  type MethodSchemas,
  type ProgressInput,
  type ProgressOutput,
  type ProgressSchemas,
  type ReturnsOf,
  type SchemaInput,
  type SchemaOutput,
  stream,
  type StreamSchema,
} from "./runner/contract.ts";
