/**
 * A JSON Schema (as zod's toJSONSchema writes it) shown as a short,
 * TypeScript-like type for `plug inspect`. The schema comes from the
 * plugin, so every name is neutralised and the text is bounded.
 * @module
 */

import { neutralize } from "../wire/mod.ts";

type Schema = Record<string, unknown>;

function isSchema(value: unknown): value is Schema {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function literal(value: unknown): string {
  return neutralize(JSON.stringify(value) ?? "undefined", 60);
}

function object(schema: Schema, depth: number): string {
  const properties = isSchema(schema.properties) ? schema.properties : {};
  const required = new Set(Array.isArray(schema.required) ? schema.required : []);
  const entries = Object.entries(properties);
  if (entries.length === 0) {
    return isSchema(schema.additionalProperties)
      ? `Record<string, ${text(schema.additionalProperties, depth + 1)}>`
      : "{}";
  }
  const shown = entries.slice(0, 8).map(([key, value]) =>
    `${neutralize(key, 40)}${required.has(key) ? "" : "?"}: ${text(value, depth + 1)}`
  );
  if (entries.length > 8) shown.push("…");
  return `{ ${shown.join("; ")} }`;
}

function text(schema: unknown, depth: number): string {
  if (!isSchema(schema)) return schema === false ? "never" : "unknown";
  if (depth > 4) return "…";
  if ("const" in schema) return literal(schema.const);
  if (Array.isArray(schema.enum)) return schema.enum.slice(0, 8).map(literal).join(" | ");
  for (const key of ["anyOf", "oneOf"]) {
    if (Array.isArray(schema[key])) {
      return (schema[key] as unknown[]).slice(0, 8).map((s) => text(s, depth + 1)).join(" | ");
    }
  }
  switch (schema.type) {
    case "string":
    case "boolean":
    case "null":
      return schema.type;
    case "number":
    case "integer":
      return "number";
    case "array":
      if (Array.isArray(schema.prefixItems)) {
        return `[${schema.prefixItems.map((s) => text(s, depth + 1)).join(", ")}]`;
      }
      return `${text(schema.items, depth + 1)}[]`;
    case "object":
      return object(schema, depth);
    default:
      return "unknown";
  }
}

/**
 * Shows a schema as a type; with `args`, a tuple schema is shown as an
 * argument list, optional arguments marked `?`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { schemaText } from "./schema_text.ts";
 * const tuple = { type: "array", prefixItems: [{ type: "string" }, { type: "number" }], minItems: 1 };
 * assert.equal(schemaText(tuple, true), "(string, number?)");
 * ```
 */
export function schemaText(schema: unknown, args = false): string {
  let shown: string;
  if (args && isSchema(schema) && Array.isArray(schema.prefixItems)) {
    const min = typeof schema.minItems === "number" ? schema.minItems : schema.prefixItems.length;
    shown = `(${
      schema.prefixItems.map((s, i) => `${text(s, 1)}${i >= min ? "?" : ""}`).join(", ")
    })`;
  } else {
    shown = text(schema, 0);
  }
  return shown.length > 300 ? `${shown.slice(0, 300)}…` : shown;
}
