/**
 * What a plugin sends about a call in flight besides its answer: stream
 * items (`$/item`) and progress reports (`$/progress`). Each is untrusted
 * input with a byte cap, the structure caps of every line, and a rate or
 * credit bound; what breaks them is a fault, and an item beyond its
 * stream's credit kills the plugin at once (THREATS T28).
 * @module
 */

import {
  type CreditParams,
  isId,
  type ItemParams,
  paramsIdOf,
  type ProgressParams,
  type RequestId,
  RuntimeMethod,
} from "../wire/mod.ts";
import { WASTE_PER_PARSED_BYTE } from "./capabilities.ts";

/**
 * What a progress report dropped unread weighs, worked out only for one
 * dropped: a line up to 4 KiB came parsed whole (its `params` is no lazy
 * getter), and counts as parsed (review 95: 4 KiB reports of
 * `[{},{},...]`, weighed as scanned, cost the host 29 times the plugin's
 * CPU, a fault for every 60 ms of its thread).
 */
function droppedWeight(message: { params?: unknown }, bytes: number): number {
  return Object.getOwnPropertyDescriptor(message, "params")?.get === undefined
    ? bytes * WASTE_PER_PARSED_BYTE
    : bytes;
}

/**
 * The values a progress line holds besides its value's own, as its scan
 * counts them: `jsonrpc`, `method`, `params`, and `params`' `id` and `value`.
 */
const PROGRESS_ENVELOPE_VALUES = 5;
/**
 * Values a delivered report may drop (members beside its value, or a
 * schema strips) before they are work for nothing: an honest object's few
 * extra members, which the SDK sends as given, cost nothing.
 */
export const DROPPED_VALUES_FREE = 16;
/**
 * What a value parsed and dropped weighs, in bytes of lines that do
 * nothing: the fewest bytes a value takes (`0,`), parsed
 * (`WASTE_PER_PARSED_BYTE`).
 */
export const DROPPED_VALUE_BYTES = 2 * WASTE_PER_PARSED_BYTE;

/**
 * What a millisecond of the host's thread spent on an invalid report
 * weighs, in bytes of lines that do nothing: the default fault budget's
 * 1.6 million units in 10 s are about a second of the thread
 * (`WASTE_PER_FAULT`), 1,600 units of 256 bytes a millisecond.
 */
export const WASTE_BYTES_PER_MS = 1600 * 256;

/**
 * How much a stream may have in flight: granted and not yet consumed.
 *
 * @example
 * ```ts
 * import type { StreamWindow } from "./call_channels.ts";
 * const window: StreamWindow = { items: 64, bytes: 4 * 1024 * 1024 }; // few, large items
 * ```
 */
export interface StreamWindow {
  /** Items. */
  items: number;
  /** Bytes of `$/item` lines. */
  bytes: number;
}

/** The host's end of one call's side channel; made by the typed API. */
export interface CallChannel {
  /** The call is on the wire: `grant` sends the plugin credit. */
  open?(grant: (items: number, bytes: number) => void, window: StreamWindow): void;
  /**
   * One item of `bytes` on the wire, its value read by `read` when it is
   * wanted: reading parses it (an item's line is held as bytes until then,
   * review 90). False when it came without credit. Absent: the call is no
   * stream.
   */
  item?(read: () => unknown, bytes: number): boolean;
  /**
   * One progress report, within the rate cap; false when it was for no one:
   * invalid, or for a call its caller has left. Else how many values the
   * listener got of it, at every depth, counted to past `limit` at most
   * (`valuesIn`): what the schema kept, or what was sent where the schema
   * transforms.
   */
  progress?(value: unknown, limit: number): number | false;
}

/** What {@linkcode CallChannels} needs from its plugin. */
export interface CallChannelsOptions {
  /** Sends a notification to the plugin. */
  notify(method: string, params: unknown): void;
  /** Whether the host's call `id` is in flight. */
  isPending(id: RequestId): boolean;
  /** A survivable fault and its line's size, counted against the plugin's budget. */
  fault(detail: string, bytes: number): void;
  /** A fault that kills the plugin at once. */
  violation(detail: string): void;
  /**
   * A line of `bytes` that did nothing: a report dropped, the call's or the
   * rate's doing (one parsed first counts as more: see `WASTE_PER_PARSED_BYTE`).
   */
  wasted(bytes: number): void;
  /** The window each stream gets. */
  window: StreamWindow;
  /** Progress reports delivered per call per second; more are dropped. */
  maxProgressPerSecond: number;
  /** Longest progress line, in bytes; a longer one is a fault. */
  maxProgressBytes: number;
  /**
   * Bytes of progress lines per second, all calls together, taken; past them
   * reports are dropped unread, as work for nothing. Twice what the SDK is
   * told to keep to (`maxProgressBytesPerSecond`): a report sent late in a
   * second may be read in the next.
   */
  maxProgressLineBytesPerSecond: number;
}

interface Open {
  channel: CallChannel;
  second: number;
  reports: number;
}

/** The side channels of one plugin's calls, by request id. */
export class CallChannels {
  #open = new Map<RequestId, Open>();
  #options: CallChannelsOptions;
  #progressSecond = 0;
  #progressBytes = 0;

  constructor(options: CallChannelsOptions) {
    this.#options = options;
  }

  /** The call `id` is on the wire; its channel receives from now on. */
  attach(id: RequestId, channel: CallChannel): void {
    this.#open.set(id, { channel, second: 0, reports: 0 });
    channel.open?.((items, bytes) => {
      if (this.#open.has(id)) {
        this.#options.notify(RuntimeMethod.credit, { id, items, bytes } satisfies CreditParams);
      }
    }, this.#options.window);
  }

  /** The call `id` is answered (or the plugin gone): nothing more is taken for it. */
  detach(id: RequestId): void {
    this.#open.delete(id);
  }

  /**
   * Takes a notification of `bytes` on the wire; false when it is none of
   * these channels' (the caller decides). `message.params` is read only once
   * the line is known to be within its channel's caps: reading it parses
   * it (all of the line but its envelope). `values`, the line's scan's
   * count of them, if it was scanned (every line longer than 128 bytes).
   */
  receive(
    message: { method: string; params?: unknown },
    bytes: number,
    values?: number,
  ): boolean {
    if (message.method === RuntimeMethod.item) {
      this.#item(message, bytes);
    } else if (message.method === RuntimeMethod.progress) {
      // Over the cap whoever listens, and before the line is parsed (review 37).
      if (bytes > this.#options.maxProgressBytes) {
        this.#options.fault(`a progress report of ${bytes} bytes`, bytes);
      } else this.#progress(message, bytes, values);
    } else return false;
    return true;
  }

  /** An item: its call judged by its id alone, read without parsing the value (review 57). */
  #item(message: { params?: unknown }, bytes: number): void {
    const id = paramsIdOf(message);
    const open = isId(id) ? this.#open.get(id) : undefined;
    if (!open && !(isId(id) && this.#options.isPending(id))) {
      this.#options.fault(`stream item for ${this.#describe(id)}`, bytes);
      return;
    }
    if (!open?.channel.item) {
      this.#options.violation(`it sent a stream item for call ${id}, which is no stream`);
      return;
    }
    // Read when the consumer wants it: reading `params` parses a long line.
    const read = () => (message.params as Partial<ItemParams> | undefined)?.value;
    if (!open.channel.item(read, bytes)) {
      this.#options.violation(`it sent a stream item for call ${id} without credit`);
    }
  }

  #progress(message: { params?: unknown }, bytes: number, values?: number): void {
    const id = paramsIdOf(message);
    const open = isId(id) ? this.#open.get(id) : undefined;
    if (!open) {
      // A call the host wants no progress of: dropped. Any other id is a fault.
      if (!isId(id) || !this.#options.isPending(id)) {
        this.#options.fault(`progress for ${this.#describe(id)}`, bytes);
      } else this.#options.wasted(droppedWeight(message, bytes));
      return;
    }
    const second = Math.floor(Date.now() / 1000);
    if (second !== open.second) {
      open.second = second;
      open.reports = 0;
    }
    if (second !== this.#progressSecond) {
      this.#progressSecond = second;
      this.#progressBytes = 0;
    }
    // The per-call rate alone let 64 calls' reports of 64 KiB, valid and at the rate, cost the
    // host 4.7 s of CPU in 5 s against the plugin's 0.24 s (review 90): the bytes are counted for
    // all calls together too.
    this.#progressBytes += bytes;
    // Dropped before `params` is read, which would parse it, when nobody listens (a stream's
    // consumer may not) or past a rate.
    if (
      !open.channel.progress || ++open.reports > this.#options.maxProgressPerSecond ||
      this.#progressBytes > this.#options.maxProgressLineBytesPerSecond
    ) {
      return this.#options.wasted(droppedWeight(message, bytes));
    }
    // Parsed for nothing when no one takes it: an invalid report (the SDK sends none), or one for
    // a call its caller left. Review 90: 64 calls' invalid 64 KiB reports at the rate cost the host
    // 15 times the plugin's CPU, and no fault.
    // A short line was not scanned (128 bytes): its values are not counted (a limit of -1).
    const sent = values === undefined ? -1 : values - PROGRESS_ENVELOPE_VALUES;
    const began = performance.now();
    const kept = open.channel.progress((message.params as Partial<ProgressParams>).value, sent);
    if (kept === false) {
      // Weighed by what its parse and check took too: a check that fails costs far more than its
      // size (review 135: 64 KiB of `[-1,-1,...]` against an array of non-negative integers,
      // 21,666 issues, took 60 ms, 120 times its parse, at 30 reports a second, and no fault).
      const spent = (performance.now() - began) * WASTE_BYTES_PER_MS;
      return this.#options.wasted(Math.max(bytes * WASTE_PER_PARSED_BYTE, spent));
    }
    // Valid, yet parsed in part for nothing: members beside the value, or ones its schema strips
    // (review 129: reports of 64 KiB, 32,000 numbers stripped, at the 2 MiB a second the host
    // takes, cost its thread 22 to 26 ms a second more than the bare reports and no fault).
    const dropped = sent - kept;
    if (dropped > DROPPED_VALUES_FREE) this.#options.wasted(dropped * DROPPED_VALUE_BYTES);
  }

  #describe(id: unknown): string {
    return isId(id) ? `call ${JSON.stringify(id).slice(0, 80)}, which is not in flight` : "no id";
  }
}
