/**
 * A `Caller` on an in-memory `Peer`, for tests of the calls' line without
 * a process: what the peer sends goes to `send`, and the plugin's answers
 * are given to the peer by the test.
 * @module
 */

import { Caller } from "../../runner/host/calls.ts";
import { Peer } from "../../runner/wire/peer.ts";
import type { Message } from "../../runner/wire/protocol.ts";

/** A caller of `maxInFlight` slots whose peer hands each message it sends to `send`. */
export function callerOn(
  send: (message: Message) => unknown,
  maxInFlight: number,
  stderrTail = "",
): { peer: Peer; caller: Caller } {
  const peer = new Peer(send);
  const caller = new Caller(peer, {
    plugin: "p",
    maxInFlight,
    callTimeout: 60_000,
    stderrTail: () => stderrTail,
    exitStatus: () => undefined,
  });
  return { peer, caller };
}
