/**
 * The Worker that scans a plugin's long lines off the host's main thread:
 * it receives a line's bytes (transferred, not copied), checks them with
 * `scanJson`, and transfers them back with the scan. Nothing is decoded or
 * parsed here; the main thread parses only what it needs.
 * @module
 */

import { scanJson, type StructureLimits } from "../wire/mod.ts";

/** One line to scan, as {@linkcode ScanOffload} posts it. */
interface ScanRequest {
  seq: number;
  bytes: Uint8Array;
  limits: StructureLimits;
}

const scope = globalThis as unknown as {
  addEventListener(type: "message", listener: (event: MessageEvent<ScanRequest>) => void): void;
  postMessage(message: unknown, transfer: Transferable[]): void;
};

scope.addEventListener("message", ({ data: { seq, bytes, limits } }) => {
  const scan = scanJson(bytes, limits);
  scope.postMessage({ seq, bytes, scan }, [bytes.buffer as ArrayBuffer]);
});
