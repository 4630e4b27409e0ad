/**
 * The host's `fetch` capability as a contract names it: the request and
 * response schemas and the method schema, each bounded. Every plugin loads
 * this module (the SDK), so the object schemas are built on first use.
 * @module
 */

import { z } from "npm:zod@^4.1.0";
import type { AnySchema, MethodSchema } from "./contract_types.ts";

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/;

/**
 * What a plugin passes to `host.fetch`.
 *
 * @example
 * ```ts
 * import type { HostFetchRequestInput } from "./contract.ts";
 * const request: HostFetchRequestInput = { url: "https://api.example.com/", method: "POST", body: "{}" };
 * ```
 */
export interface HostFetchRequestInput {
  /** An http or https URL, at most 8192 characters. */
  url: string;
  /**
   * The method.
   * @default {"GET"}
   */
  method?: "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** Request headers (at most 64); a secret's header for its bound host is the host's to set. */
  headers?: Record<string, string>;
  /** The body, as text. */
  body?: string;
}

/**
 * A fetch request as the host's implementation receives it (the method filled in).
 *
 * @example
 * ```ts
 * import type { HostFetchRequestData } from "./contract.ts";
 * const request: HostFetchRequestData = { url: "https://api.example.com/", method: "GET" };
 * ```
 */
export interface HostFetchRequestData extends HostFetchRequestInput {
  /** The method. */
  method: "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";
}

/**
 * What `host.fetch` answers.
 *
 * @example
 * ```ts
 * import type { HostFetchResponseData } from "./contract.ts";
 * const response: HostFetchResponseData = {
 *   status: 200,
 *   statusText: "OK",
 *   headers: {},
 *   body: "",
 *   url: "https://api.example.com/",
 * };
 * ```
 */
export interface HostFetchResponseData {
  /** The HTTP status (a 3xx is not followed). */
  status: number;
  /** The status text. */
  statusText: string;
  /** Response headers, lower-case names. */
  headers: Record<string, string>;
  /** The body as text (UTF-8, invalid bytes replaced). */
  body: string;
  /** The URL fetched. */
  url: string;
}

/**
 * The schema type of {@linkcode HostFetchRequest}.
 *
 * @example
 * ```ts
 * import { HostFetchRequest, type HostFetchRequestSchema } from "./contract.ts";
 * const schema: HostFetchRequestSchema = HostFetchRequest;
 * ```
 */
export type HostFetchRequestSchema = AnySchema & {
  readonly _zod: { output: HostFetchRequestData; input: HostFetchRequestInput };
};

/**
 * The schema type of {@linkcode HostFetchResponse}.
 *
 * @example
 * ```ts
 * import { HostFetchResponse, type HostFetchResponseSchema } from "./contract.ts";
 * const schema: HostFetchResponseSchema = HostFetchResponse;
 * ```
 */
export type HostFetchResponseSchema = AnySchema & {
  readonly _zod: { output: HostFetchResponseData; input: HostFetchResponseData };
};

/**
 * The schema type of {@linkcode hostFetchCapability}.
 *
 * @example
 * ```ts
 * import { hostFetchCapability, type HostFetchCapability } from "./contract.ts";
 * const schema: HostFetchCapability = hostFetchCapability;
 * ```
 */
export type HostFetchCapability = MethodSchema & {
  readonly _zod: {
    def: {
      input: AnySchema & {
        readonly _zod: { output: [HostFetchRequestData]; input: [HostFetchRequestInput] };
      };
      output: HostFetchResponseSchema;
    };
  };
};

/**
 * What a plugin asks the host's `fetch` capability for (see `hostFetch`):
 * an http(s) URL, a method, headers and a text body, each bounded. A
 * `z.lazy` schema, built on its first use (every plugin loads this module):
 * parsing, its errors and its JSON Schema are an object schema's; object
 * methods such as `.extend` are not offered.
 *
 * @example
 * ```ts
 * import { HostFetchRequest } from "./contract.ts";
 * const request = HostFetchRequest.parse({ url: "https://api.example.com/v1/items" });
 * ```
 */
export const HostFetchRequest: HostFetchRequestSchema = lazily(() =>
  z.object({
    url: z.string().max(8192),
    method: z.enum(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]).default("GET"),
    headers: z.record(z.string().regex(HEADER_NAME), z.string().max(8192)).refine(
      (headers) => Object.keys(headers).length <= 64,
      "at most 64 headers",
    ).optional(),
    body: z.string().optional(),
  })
);

/**
 * What the host's `fetch` capability answers: status, headers and the body
 * as text. Redirects are not followed (the plugin sees the 3xx and may ask
 * again, checked again). Built on first use, like {@linkcode HostFetchRequest}.
 *
 * @example
 * ```ts
 * import { HostFetchResponse } from "./contract.ts";
 * const response = HostFetchResponse.parse({
 *   status: 200,
 *   statusText: "OK",
 *   headers: { "content-type": "application/json" },
 *   body: "{}",
 *   url: "https://api.example.com/v1/items",
 * });
 * ```
 */
export const HostFetchResponse: HostFetchResponseSchema = lazily(() =>
  z.object({
    status: z.number().int(),
    statusText: z.string(),
    headers: z.record(z.string(), z.string()),
    body: z.string(),
    url: z.string(),
  })
);

/**
 * A schema built on its first use. Every plugin loads this module (the SDK),
 * and the fetch schemas use eight kinds of zod schema a plugin may never
 * touch: built at load, they cost each start about 6 ms of zod compiling.
 */
function lazily<T>(build: () => z.ZodType): T {
  return z.lazy(build) as unknown as T;
}

/**
 * The schema of the host's `fetch` capability: declare it in a contract's
 * `capabilities` and pass `hostFetch({...})` as its implementation.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { defineContract, hostFetchCapability } from "./contract.ts";
 *
 * export const Weather = defineContract({
 *   name: "weather",
 *   version: 1,
 *   methods: { today: z.function({ input: [z.string()], output: z.string() }) },
 *   capabilities: { fetch: hostFetchCapability },
 * });
 * ```
 */
export const hostFetchCapability: HostFetchCapability = z.function({
  input: [HostFetchRequest],
  output: HostFetchResponse,
});
