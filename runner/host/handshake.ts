/**
 * Host side of the handshake: what `$/initialize` sends and how its answer
 * is checked (versions, nonce, every contract the host asked for).
 * @module
 */

import { type Contract, CONTRACT_NAME, MAX_METHODS, METHOD_NAME } from "../contract.ts";
import { ProtocolError } from "../errors.ts";
import { type InitializeResult, PROTOCOL_VERSION, type ServedContract } from "../wire/mod.ts";
import { neutralize } from "../wire/mod.ts";

/**
 * The most contracts a handshake answer may list, methods per contract (as
 * `$/describe`), and method names in all: what `served` keeps lives as long
 * as the plugin (100 × 1,000 names of 64 characters were 10 MB; review 40).
 */
export const MAX_SERVED = 100;
const MAX_SERVED_METHODS = MAX_METHODS;
export const MAX_SERVED_NAMES = 4096;

function shown(value: unknown, max: number): string {
  // Only a primitive is quoted: a structure from the plugin could be megabytes.
  if (typeof value === "object" && value !== null) {
    return Array.isArray(value) ? "an array" : "an object";
  }
  return neutralize(JSON.stringify(value) ?? "nothing", max);
}

/** Checks the plugin's answer to `$/initialize` and returns what it serves. */
export function checkHandshake(
  plugin: string,
  expected: { nonce: string; contracts: readonly Contract[] },
  raw: unknown,
): ServedContract[] {
  const result = (typeof raw === "object" && raw !== null ? raw : {}) as Partial<InitializeResult>;
  if (result.protocolVersion !== PROTOCOL_VERSION) {
    throw new ProtocolError(
      plugin,
      `protocol version mismatch: host speaks ${PROTOCOL_VERSION}, plugin speaks ${
        shown(result.protocolVersion, 40)
      }`,
    );
  }
  if (result.nonce !== expected.nonce) {
    throw new ProtocolError(
      plugin,
      `nonce mismatch: host sent "${expected.nonce}", plugin answered ${shown(result.nonce, 80)}`,
    );
  }
  const contracts = result.contracts;
  if (!Array.isArray(contracts) || contracts.length > MAX_SERVED) {
    throw new ProtocolError(
      plugin,
      `malformed "contracts" in the handshake answer: not a list of at most ${MAX_SERVED}`,
    );
  }
  const served: ServedContract[] = [];
  let names = 0;
  for (const c of contracts) {
    const ok = typeof c?.name === "string" && Number.isSafeInteger(c.version) &&
      Array.isArray(c.methods) && c.methods.length <= MAX_SERVED_METHODS &&
      c.methods.every((m: unknown) => typeof m === "string");
    names += ok ? c.methods.length : 0;
    if (!ok || names > MAX_SERVED_NAMES) {
      throw new ProtocolError(
        plugin,
        `malformed "contracts" in the handshake answer: each needs a name, an integer version ` +
          `and at most ${MAX_SERVED_METHODS} method names, ${MAX_SERVED_NAMES} in all`,
      );
    }
    // What `plugin.served` keeps is the plugin's words: only names a contract and its methods
    // can have (one short line each). Any other is no contract the host can ask for, and is
    // left out, not refused: a plugin in another language may serve more than plugbox's.
    if (!CONTRACT_NAME.test(c.name)) continue;
    const methods = c.methods.filter((m: string) => METHOD_NAME.test(m));
    served.push({ name: c.name, version: c.version, methods });
  }
  for (const contract of expected.contracts) checkServed(plugin, contract, served);
  return served;
}

function checkServed(plugin: string, contract: Contract, served: ServedContract[]): void {
  const list = served.slice(0, 20).map((c) => `"${neutralize(c.name, 64)}" v${c.version}`)
        .join(", ") + (served.length > 20 ? `, and ${served.length - 20} more` : "") || "nothing";
  const found = served.find((c) => c.name === contract.name);
  if (!found) {
    throw new ProtocolError(
      plugin,
      `plugin does not serve contract "${contract.name}" (it serves ${list})`,
    );
  }
  if (found.version !== contract.version) {
    throw new ProtocolError(
      plugin,
      `contract "${contract.name}": host wants version ${contract.version}, plugin serves version ${found.version}`,
    );
  }
  const missing = Object.keys(contract.methods).filter((m) => !found.methods.includes(m));
  if (missing.length > 0) {
    throw new ProtocolError(
      plugin,
      `contract "${contract.name}" v${contract.version}: plugin lacks methods ${
        missing.map((m) => `"${m}"`).join(", ")
      }`,
    );
  }
}
