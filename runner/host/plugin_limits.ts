/**
 * The host's fixed limits on what one plugin sends it: the size of a
 * cancel and of a blank line, what a fault and work for nothing weigh, and
 * the capability calls' queue and time share. Measured on this machine
 * where a figure says "here".
 * @module
 */

/**
 * A cancel is a few dozen bytes: its id is at most 256 characters (1,536
 * bytes even written as `\u` escapes). A longer one is a fault, never parsed.
 */
export const MAX_CANCEL_BYTES = 4096;

/**
 * A blank line longer than this is a fault, not work for nothing: no
 * sender pads a line with kilobytes of white space, and a 16 MiB one is
 * scanned like any other line (review 65: floods of them cost a core).
 */
export const MAX_BLANK_BYTES = 4096;

/**
 * A fault counts once, and once more for each this many bytes of its line:
 * a fault that cost the host a long line counts as the short ones it is
 * worth (review 65: a hundred 16 MiB lines every 10 s, each one fault,
 * held a host at 0.4 of a core for as long as they came).
 */
export const BYTES_PER_FAULT = 256 * 1024;

/**
 * The plugin's capability calls held beyond the 64 handled at once, while
 * the host reads on: in count, and in bytes of their lines. With none,
 * 64 capabilities that each called the plugin back stopped the reading
 * their answers needed, until the calls' deadlines (review 59). A held
 * call keeps its line (up to `maxCapabilityBytes`, or a 64 KiB chunk it
 * came in), so both are bounded; past them a call is answered
 * "overloaded" (the SDK keeps its own calls within the count).
 */
export const QUEUED_CAPABILITY_CALLS = 256;
export const QUEUED_CAPABILITY_BYTES = 16 * 1024 * 1024;
/**
 * The window whose share of the host's time a plugin's capability calls may
 * take at once (100 ms at the default share): a burst ahead of the rate.
 */
export const CAPABILITY_BURST_WINDOW_MS = 400;
/**
 * What a capability call costs the host that no clock around it sees (its
 * line's read, a short line's parse, the peer's bookkeeping), charged to
 * the plugin's share with what is timed: about a microsecond here, a third
 * of a 63-byte call's cost on the host (review 73: 233,000 such calls a
 * second took 73% of its thread at the default share).
 */
export const REQUEST_OVERHEAD_MS = 0.001;
/**
 * What a stream item's line costs the host that no clock around it sees (its
 * read, a short line's parse, the channel's bookkeeping), owed to the
 * plugin's answer share with its scan and its consumer's read: as
 * {@linkcode REQUEST_OVERHEAD_MS} for a capability call. An item, unlike an
 * answer, comes as often as the plugin sends it (review 158: 1 KiB items
 * cost the host 16 to 19 us each, of which 10 to 13 were timed).
 */
export const ITEM_OVERHEAD_MS = 0.001;
/**
 * The window whose share of the host's time a plugin's capability calls may
 * owe before the host refuses new ones "overloaded" (as past its queue):
 * 1 s at the default share, scaled with it (review 74: a fixed second was a
 * burst of a second at any share). An honest plugin owes at most its
 * unanswered calls' reading (16 MiB here: about 80 ms) and one call's run;
 * a plugin that cancels what waits would otherwise be read for ever
 * without paying.
 */
export const CAPABILITY_MAX_OWED_WINDOW_MS = 4000;
/**
 * What a plugin's reading may owe whatever its share: an honest plugin's
 * unanswered calls (16 MiB, the SDK's bound) cost their reading whatever
 * the share, about 80 ms here (review 76: at a share of 0.01 the horizon
 * was 40 ms, and an honest plugin's nine stores of 2 MB were refused).
 */
export const CAPABILITY_MIN_OWED_MS = 250;
/**
 * What writing an answer to a capability call costs the host per character,
 * beyond its serialisation (timed): its encoding and its write, in 64 KiB
 * parts as the plugin reads them, which no clock around the answer sees.
 * About 4 ns here (review 73: 256 KiB answers cost the host 1.35 ms each,
 * a quarter of it timed).
 */
export const ANSWER_MS_PER_CHAR = 0.000004;
/** Capability calls handled at once (the peer's default). */
export const MAX_CAPABILITY_CALLS = 64;

/**
 * Units of work for nothing (about a short line's each: fault_budget.ts)
 * that make one fault: with the default budget, 1.6 million in 10 s end a
 * plugin, about a second of the host's time; a plugin that reports
 * progress nobody asked for, 50 a second on each of 64 calls, makes a
 * fault every 5 s.
 */
export const WASTE_PER_FAULT = 16_384;
/**
 * What an answer the host writes for nothing (a call refused "overloaded",
 * a call cancelled while it waited, whose line the plugin's share paid for)
 * costs it besides the call's line, in bytes of lines that do nothing: each cost 5 to 6 µs, as much as
 * 140 blank lines, and counted as one, they held a host at 0.73 of a core
 * within the budget (review 66). 4 KiB is 16 units: at most about 10,000 a
 * second within the default budget, a twentieth of a core.
 */
export const ANSWER_WASTE_BYTES = 4096;

/**
 * Bytes of progress a plugin sends a second, all its calls together (its
 * values as JSON, and 128 a report), told to the SDK at the handshake; the
 * host takes twice as many bytes of lines a second (review 90: 64 calls'
 * valid reports at the per-call rate cost the host 20 times the plugin's
 * CPU). Progress is for people to watch: 1 MiB a second is plenty.
 */
export const PROGRESS_BYTES_PER_SECOND = 1024 * 1024;
