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
import { type CheckLine, CheckLines } from "./audit_lines.ts";
import { AuditEntries, type AuditEntry, type AuditLog } from "./audit_log.ts";
import { guarded } from "./listener.ts";

/** The kinds whose value is a path, which Deno may be given relative. */
const RELATIVE_KINDS: ReadonlySet<string> = new Set(["read", "write", "ffi"]);

/** How often the file is read while nothing else asks, in ms. */
const POLL_MS = 50;

/** What the recorder tells the plugin's handle. */
export interface AuditHooks {
  /** A new distinct entry was seen. */
  onEntry?: (entry: AuditEntry) => void;
  /** The process passed `maxLogBytes`: the handle kills it. */
  onOverflow: () => void;
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
  #lines = new CheckLines();
  #bytes = 0;
  #overflow = false;
  #finished = false;
  #closed = false;
  #finishing = false;
  /** A read was granted: the plugin may have entered another folder since (Deno.chdir). */
  #mayHaveMoved = false;
  #queue: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setTimeout> | undefined;

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
      this.#lines.take(this.#buffer.subarray(0, n), (check) => this.#record(check));
    }
  }

  #record(check: CheckLine | undefined): void {
    if (!check) {
      this.#entries.malformed++;
      return;
    }
    const judged = judgeCheck(check.kind, check.value, this.#plan.grants, this.#plan.audit!.cwd);
    // Deno resolves a relative path in the working folder of the moment, and `Deno.chdir` asks
    // only for read of the folder it enters. Judged from the folder it started in, a plugin that
    // entered a granted folder read a file there, and its audit said "DENIED" of a file of its own
    // folder (review 123). After a granted read, a relative path is marked uncertain.
    const relative = check.value !== null && RELATIVE_KINDS.has(check.kind) &&
      check.value !== "<TMP>" && !check.value.startsWith("/");
    this.#observe("deno", judged, relative && this.#mayHaveMoved);
    if (judged.kind === "read" && judged.granted) this.#mayHaveMoved = true;
  }

  /**
   * Records what an observer of the process saw (Deno's checks come here;
   * so may, say, an egress proxy's connections, under their own `source`),
   * attributed to the calls in flight as it arrives.
   */
  observe(source: string, check: JudgedCheck): void {
    this.#observe(source, check, false);
  }

  #observe(source: string, check: JudgedCheck, uncertain: boolean): void {
    if (this.#closed) return;
    const entry = this.#entries.add(
      source,
      check,
      this.#open,
      (c) => this.#osLayer(c),
      uncertain,
    );
    // The host's callback failing (a throw, or a rejection) is not the audit's.
    if (entry) {
      guarded(this.#hooks.onEntry)({ ...entry, calls: entry.calls.map((c) => ({ ...c })) });
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
      uncertain: e.uncertain,
      overflow: this.#overflow,
      finished: this.#finished,
      complete: e.dropped === 0 && e.malformed === 0 && e.uncertain === 0 && !this.#overflow,
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
      if (this.#lines.pending) this.#entries.malformed++;
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
