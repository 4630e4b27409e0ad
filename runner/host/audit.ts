/**
 * Reads one plugin process's permission audit: Deno writes a JSON line per
 * check to a file in a folder only the host uses; the host reads it as it
 * grows (a short poll, and at every call's start and end), judges each
 * check against the grants, folds it into bounded entries, and attributes
 * it to the call in flight. Nothing here runs unless `audit` was asked for.
 *
 * Attribution: before a call is sent, the file is read to its end, so
 * everything Deno wrote before lies behind; after the answer arrives, it is
 * read to its end again before the call counts as finished. A check read
 * in between happened while the call was in flight; when exactly one call
 * was, it is that call's. (A check the plugin makes after answering, before
 * that second read, a few microseconds, also counts as the call's.)
 * @module
 */

import { dirname } from "node:path";
import { isWithin, judgeCheck, type JudgedCheck, type LaunchPlan } from "../sandbox/mod.ts";
import { AuditEntries, type AuditEntry, type AuditLog } from "./audit_log.ts";

/** How often the file is read while nothing else asks, in ms. */
const POLL_MS = 50;
/** Longest line accepted: Deno's lines carry at most a 4 KiB path, JSON-escaped. */
const MAX_LINE = 64 * 1024;
const NEWLINE = 0x0a;

/** What the recorder tells the plugin's handle. */
export interface AuditHooks {
  /** A new distinct entry was seen. */
  onEntry?: (entry: AuditEntry) => void;
  /** The process passed `maxLogBytes`: the handle kills it. */
  onOverflow: () => void;
}

function parseCheck(line: string): { kind: string; value: string | null } | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof raw !== "object" || raw === null) return undefined;
  const { permission, value } = raw as Record<string, unknown>;
  if (typeof permission !== "string" || !/^[a-z]{1,32}$/.test(permission)) return undefined;
  if (value !== null && typeof value !== "string") return undefined;
  return { kind: permission, value };
}

/** A check whose line passed the cap: its kind, and its value's size in place of the value. */
function tooLong(head: string, size: number): { kind: string; value: string } | undefined {
  const kind = /^\{"v":1,"datetime":"[^"]{0,64}","permission":"([a-z]{1,32})","value":"/.exec(head)
    ?.[1];
  return kind ? { kind, value: `(a value of ${size} bytes, too long to record)` } : undefined;
}

/**
 * The host's reader of one process's audit file.
 *
 * @example
 * ```ts ignore
 * const recorder = AuditRecorder.open(plan, { onOverflow: () => process.kill() });
 * const result = await recorder.around("kv.get", () => caller.call("kv.get", ["a"]));
 * const log = await recorder.snapshot();
 * ```
 */
export class AuditRecorder {
  #plan: LaunchPlan;
  #file: Deno.FsFile;
  #hooks: AuditHooks;
  #entries: AuditEntries;
  #open = new Map<number, string>();
  #calls = 0;
  #buffer = new Uint8Array(64 * 1024);
  #partial: Uint8Array[] = [];
  #partialBytes = 0;
  #skipping = false;
  #lineBytes = 0;
  #bytes = 0;
  #overflow = false;
  #finished = false;
  #closed = false;
  #finishing = false;
  #queue: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #decoder = new TextDecoder();

  private constructor(plan: LaunchPlan, file: Deno.FsFile, hooks: AuditHooks) {
    this.#plan = plan;
    this.#file = file;
    this.#hooks = hooks;
    this.#entries = new AuditEntries(plan.audit!.maxEntries);
    this.#schedule();
  }

  /**
   * Creates the empty audit file (only the host's user may open it) and
   * opens it for reading, before the process is spawned.
   */
  static open(plan: LaunchPlan, hooks: AuditHooks): AuditRecorder {
    const log = plan.audit!.log;
    Deno.writeFileSync(log, new Uint8Array(), { mode: 0o600, createNew: true });
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(log, { read: true });
    } catch (error) {
      Deno.removeSync(log);
      throw error;
    }
    return new AuditRecorder(plan, file, hooks);
  }

  #schedule(): void {
    if (this.#finishing) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#sync(() => {}).finally(() => this.#schedule());
    }, POLL_MS);
    Deno.unrefTimer(this.#timer);
  }

  /** Reads to the end of the file, then runs `then`; one read at a time, in order. */
  #sync(then: () => void): Promise<void> {
    this.#queue = this.#queue.then(() => this.#readAll()).catch(() => {}).then(then);
    return this.#queue;
  }

  async #readAll(): Promise<void> {
    while (!this.#closed && !this.#overflow) {
      const n = await this.#file.read(this.#buffer);
      if (n === null || n === 0) return;
      this.#bytes += n;
      if (this.#bytes > this.#plan.audit!.maxLogBytes) {
        this.#overflow = true;
        this.#hooks.onOverflow();
        return;
      }
      this.#take(this.#buffer.subarray(0, n));
    }
  }

  /**
   * Splits bytes into lines. Of a line longer than {@linkcode MAX_LINE}
   * (a check of a huge value) only the start is kept, enough for its kind.
   */
  #take(chunk: Uint8Array): void {
    let start = 0;
    let newline = chunk.indexOf(NEWLINE);
    while (newline !== -1) {
      this.#keep(chunk.subarray(start, newline));
      this.#line();
      start = newline + 1;
      newline = chunk.indexOf(NEWLINE, start);
    }
    this.#keep(chunk.subarray(start));
  }

  #keep(piece: Uint8Array): void {
    this.#lineBytes += piece.length;
    if (this.#skipping || piece.length === 0) return;
    if (this.#partialBytes + piece.length > MAX_LINE) {
      this.#skipping = true;
      return;
    }
    this.#partial.push(piece.slice());
    this.#partialBytes += piece.length;
  }

  #line(): void {
    const skipped = this.#skipping;
    const size = this.#lineBytes;
    const text = this.#partial.map((p) => this.#decoder.decode(p, { stream: true })).join("") +
      this.#decoder.decode();
    this.#partial = [];
    this.#partialBytes = 0;
    this.#lineBytes = 0;
    this.#skipping = false;
    const check = skipped ? tooLong(text, size) : parseCheck(text);
    if (!check) {
      if (skipped || text !== "") this.#entries.malformed++;
      return;
    }
    const judged = judgeCheck(check.kind, check.value, this.#plan.grants, this.#plan.audit!.cwd);
    const entry = this.#entries.add(judged, this.#open, (c) => this.#osLayer(c));
    if (entry) {
      try {
        this.#hooks.onEntry?.({ ...entry, calls: entry.calls.map((c) => ({ ...c })) });
      } catch {
        // The host's callback failed; the audit goes on.
      }
    }
  }

  /** Under the OS layer: whether a granted path's real path lies outside every mount. */
  #osLayer(check: JudgedCheck): AuditEntry["osLayer"] {
    const mounted = this.#plan.audit!.mounted;
    if (mounted.length === 0 || !check.granted || check.value === null) return undefined;
    if (check.kind !== "read" && check.kind !== "write") return undefined;
    let real: string;
    try {
      real = Deno.realPathSync(check.value);
    } catch {
      return undefined; // not there on the host either
    }
    return mounted.some((m) => isWithin(real, m)) ? undefined : "outside-mounts";
  }

  /**
   * Runs one call with attribution: the file is read to its end before the
   * call is sent, and again after it settles, before the call counts as
   * finished. The caller does not wait for the second read.
   */
  async around<T>(method: string, call: () => Promise<T>): Promise<T> {
    const id = ++this.#calls;
    await this.#sync(() => this.#open.set(id, method));
    try {
      return await call();
    } finally {
      this.#sync(() => this.#open.delete(id));
    }
  }

  /** The audit so far: everything Deno wrote before this call is in it. */
  async snapshot(): Promise<AuditLog> {
    await this.#sync(() => {});
    const plan = this.#plan;
    const { read, write, net, env, sys } = plan.grants;
    const e = this.#entries;
    return {
      plugin: plan.name,
      root: plan.root,
      snapshot: plan.snapshot.dir,
      isolation: plan.isolation,
      grants: {
        read: [...read],
        write: [...write],
        net: [...net],
        env: Object.keys(env),
        sys: [...sys],
      },
      entries: e.list(),
      checks: e.checks,
      bytes: this.#bytes,
      dropped: e.dropped,
      malformed: e.malformed,
      overflow: this.#overflow,
      finished: this.#finished,
      complete: e.dropped === 0 && e.malformed === 0 && !this.#overflow,
    };
  }

  /**
   * After the process has ended: reads the file to its end, closes it, and
   * removes it (and its folder when it was made for this plan alone).
   * Safe to call more than once.
   */
  finish(): Promise<void> {
    if (this.#finishing) return this.#queue;
    this.#finishing = true;
    clearTimeout(this.#timer);
    return this.#sync(() => {
      clearTimeout(this.#timer);
      // A line Deno had not finished when the process died.
      if (this.#lineBytes > 0) this.#entries.malformed++;
      this.#closed = true;
      this.#finished = true;
      this.#file.close();
      const audit = this.#plan.audit!;
      try {
        Deno.removeSync(audit.ownFolder ? dirname(audit.log) : audit.log, {
          recursive: audit.ownFolder,
        });
      } catch {
        // Already gone.
      }
    });
  }
}
