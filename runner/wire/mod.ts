/**
 * The wire room: bytes <-> lines <-> JSON-RPC messages, the symmetric peer
 * (ids, pending calls, cancellation, inbound request slots), the protocol's
 * constants and shapes, the log line format, and `neutralize` for untrusted
 * text. Both the host and the plugin run this code.
 *
 * May import: `runner/contract.ts`, `runner/errors.ts`, `node:` built-ins.
 * Nothing here knows about processes, sandboxes or the host.
 * @module
 */

export { concatBytes, keepable, withRoom } from "./bytes.ts";
export { LOG_LEVELS, type LogLevel, type LogLine } from "./log_line.ts";
export { type Outgoing, Peer, PendingRequest, type RequestContext, ResponseError } from "./peer.ts";
export {
  type CapabilityParams,
  type Classified,
  classifyMessage,
  type CreditParams,
  DEFAULT_MAX_LINE_BYTES,
  type DescribedContract,
  type DescribedMethod,
  ENVELOPE_ALLOWANCE_BYTES,
  ErrorCode,
  type InitializeParams,
  type InitializeResult,
  isId,
  type ItemParams,
  MAX_MESSAGE_DEPTH,
  MAX_MESSAGE_MEMBERS,
  MAX_METHOD_BYTES,
  NONCE_FLAG,
  type ProgressParams,
  PROTOCOL_VERSION,
  type RequestId,
  RuntimeMethod,
  type ServedContract,
  wireMethod,
} from "./protocol.ts";
export { neutralize, terminalJson } from "./text.ts";
export { TimeBudget } from "./time_budget.ts";
export { type LineCap, utf8Length } from "./line_writer.ts";
export { type LineOffload, type LineScanOptions, LineTransport } from "./transport.ts";
export { type JsonScan, scanJson, type StructureLimits, valuesIn } from "./json_scan.ts";
export { classifyLine, classifyScanned, paramsIdOf } from "./envelope.ts";
