/**
 * `plug audit` (one call with every permission check recorded, shown by
 * kind), `plug call --audit` (the same, the audit on stderr) and
 * `plug suggest` (audited runs turned into the narrowest `plugbox.json`).
 * @module
 */

import { constants } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { z } from "npm:zod@^4.1.0";
import { type ParsedArgs, parseJsonArgs, UsageError } from "./args.ts";
import { auditLines } from "./audit_text.ts";
import {
  ExitCode,
  exitCodeFor,
  launch,
  launchOptions,
  needModule,
  outJson,
  type Output,
} from "./commands.ts";
import { type AuditLog, suggestManifest, toCallError } from "../host/mod.ts";
import { MAX_AUDIT_VALUE, parseCapped, planPlugin } from "../sandbox/mod.ts";
import { concatBytes, neutralize, terminalJson } from "../wire/mod.ts";

/** What `plug audit --json` prints: the call and its audit. */
interface AuditReport {
  call: {
    method: string;
    ok: boolean;
    result?: unknown;
    error?: { name: string; message: string };
  };
  audit: AuditLog;
}

function methodOf(args: ParsedArgs, command: string): string {
  const method = args.positional[1];
  if (!method || !/^[^.]+\.[^.]+$/.test(method)) {
    throw new UsageError(
      `plug ${command} needs <contract>.<method> after the module, got ${
        JSON.stringify(method ?? "")
      }`,
    );
  }
  return method;
}

/** Runs the call with the audit on; the call's failure is part of the report, not thrown. */
async function auditedCall(args: ParsedArgs, io: Output, command: string) {
  const module = needModule(args, command);
  const method = methodOf(args, command);
  const params = parseJsonArgs(args.positional.slice(2));
  const plan = await planPlugin(module, { ...launchOptions(args), audit: true });
  const plugin = await launch(plan, args, io);
  let result: unknown;
  let failure: unknown;
  let ok = false;
  try {
    const [contract, name] = method.split(".");
    if (!plugin.served.find((c) => c.name === contract)?.methods.includes(name)) {
      const list = plugin.served.flatMap((c) => c.methods.map((m) => `${c.name}.${m}`)).join(", ");
      // Quoted bounded, as plug call quotes it: 4,096 names were one line of 512 KB (review 85).
      throw new UsageError(
        `plugin "${plugin.name}" has no method "${neutralize(method, 200)}" (it serves ${
          neutralize(list || "nothing", 2000)
        })`,
      );
    }
    try {
      result = await plugin.call(method, params);
      ok = true;
    } catch (error) {
      failure = toCallError(error, plugin.name, contract, name);
    }
  } finally {
    await plugin.close();
  }
  return { method, ok, result, failure, log: await plugin.audit() };
}

function errorSummary(error: unknown): { name: string; message: string } {
  return error instanceof Error
    ? { name: error.name, message: error.message.split("\n")[0] }
    : { name: "Error", message: neutralize(String(error), 500) };
}

/**
 * `plug audit <module> <contract>.<method> [json-arg ...] [grants]`: the
 * audit on stdout (`--json`: the call and the audit as one object); the
 * exit code is the call's.
 */
export async function auditCommand(args: ParsedArgs, io: Output): Promise<number> {
  const run = await auditedCall(args, io, "audit");
  if (args.json) {
    const report: AuditReport = {
      call: run.ok
        ? { method: run.method, ok: true, result: run.result ?? null }
        : { method: run.method, ok: false, error: errorSummary(run.failure) },
      audit: run.log,
    };
    outJson(io, report);
  } else {
    const outcome = run.ok
      ? `ok, ${terminalJson(run.result ?? null).slice(0, 200)}`
      : `${errorSummary(run.failure).name}: ${errorSummary(run.failure).message}`;
    io.out(
      `plugin "${run.log.plugin}" under isolation "${run.log.isolation}", ${run.method}: ${outcome}`,
    );
    for (const line of auditLines(run.log)) io.out(line);
  }
  return run.ok ? ExitCode.ok : exitCodeFor(run.failure);
}

/** `plug call --audit ...`: the result on stdout as `call` prints it, the audit on stderr. */
export async function callAuditedCommand(args: ParsedArgs, io: Output): Promise<number> {
  const run = await auditedCall(args, io, "call");
  for (const line of auditLines(run.log)) io.err(`audit: ${line}`);
  if (!run.ok) throw run.failure;
  // Valid JSON, with every character that could drive a terminal escaped (THREATS T20).
  io.out(terminalJson(run.result ?? null));
  return ExitCode.ok;
}

/**
 * The longest value plug audit writes: up to {@linkcode MAX_AUDIT_VALUE} characters of what Deno
 * checked, neutralised, each UTF-16 unit at most eight characters escaped (`\u{feff}`), then the
 * cut's note. At 5,000, one path of 1,500 control characters that a plugin read made its own
 * audit a report plug suggest refused whole (review 85).
 */
const MAX_REPORTED_VALUE = 8 * MAX_AUDIT_VALUE + 64;

const Entry = z.object({
  source: z.string().max(32),
  kind: z.string().max(32),
  value: z.string().max(MAX_REPORTED_VALUE).nullable(),
  granted: z.boolean(),
  count: z.number().int().nonnegative(),
  first: z.number(),
  last: z.number(),
  calls: z.array(z.object({ id: z.number().int(), method: z.string().max(300) })).max(8),
  outsideCalls: z.number().int().nonnegative(),
  ambiguous: z.number().int().nonnegative(),
  osLayer: z.literal("outside-mounts").optional(),
  uncertain: z.literal(true).optional(),
});
const Paths = z.array(z.string().max(5000)).max(1000);
const Log = z.object({
  plugin: z.string().max(64),
  root: z.string().max(5000),
  snapshot: z.string().max(5000),
  // Every layer plug audit runs under: a report made under Landlock was refused whole (review 89).
  isolation: z.enum(["os", "landlock", "deno"]),
  grants: z.object({ read: Paths, write: Paths, net: Paths, env: Paths, sys: Paths }),
  entries: z.array(Entry).max(1_000_000),
  checks: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  dropped: z.number().int().nonnegative(),
  malformed: z.number().int().nonnegative(),
  uncertain: z.number().int().nonnegative().optional(),
  overflow: z.boolean(),
  finished: z.boolean(),
  complete: z.boolean(),
});
const Report = z.union([z.object({ audit: Log }).transform((r) => r.audit), Log]);

/**
 * Most bytes read from one audit file, and from all of them together: each report is held until
 * all are merged, and ten of 250 MB, one file given ten times, took 4.8 GB (review 91).
 */
const MAX_REPORT_BYTES = 256 * 1024 * 1024;

/** What is left of {@linkcode MAX_REPORT_BYTES} for the reports still to read. */
interface ReadBudget {
  left: number;
}

/**
 * A report's shape before it is parsed. plug audit writes it six levels
 * deep. Values are capped apart from bytes: under the byte cap, 85 million
 * empty objects (`[{},{},...]`) took 2.5 minutes and 7 GB before V8 ended
 * the CLI out of memory (review 81); 2^24 of them cost about 1.7 GB, and a
 * report that holds more than its audit's million entries would (13 values
 * each, calls aside) is no plug audit report.
 */
const REPORT_STRUCTURE = { maxDepth: 8, maxMembers: 2 ** 24 };

/**
 * The report's text, read up to the cap: a path may be any file of an
 * untrusted checkout, and `/dev/zero` read whole took 18 GB before a size
 * was compared, a FIFO waited forever (review 42), and `/proc/kmsg`, a
 * "regular" file of size 0, waited forever too (review 44). So a file is
 * opened without blocking, checked on the open handle to be a regular file
 * of some size, and read to that size at most.
 */
async function readCapped(path: string, budget: ReadBudget): Promise<Uint8Array> {
  if (path === "-") return await readStdin(budget);
  let handle: FileHandle;
  try {
    // O_NOCTTY: a terminal named as a report would become a session leader's controlling terminal.
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (cause) {
    throw new UsageError(`cannot read audit "${path}": ${(cause as Error).message}`, { cause });
  }
  try {
    const info = await handle.stat();
    if (!info.isFile() || info.size === 0) {
      throw new UsageError(
        `audit "${path}" is not a regular file with content (give - to read a report from stdin)`,
      );
    }
    if (info.size > MAX_REPORT_BYTES) {
      throw new UsageError(`audit "${path}" is over ${MAX_REPORT_BYTES} bytes`);
    }
    if (info.size > budget.left) throw overBudget(path);
    const bytes = new Uint8Array(info.size);
    let at = 0;
    while (at < bytes.length) {
      const { bytesRead } = await handle.read(bytes, at, bytes.length - at, null);
      if (bytesRead === 0) break;
      at += bytesRead;
    }
    budget.left -= at;
    return bytes.subarray(0, at);
  } finally {
    await handle.close();
  }
}

function overBudget(path: string): UsageError {
  return new UsageError(
    `audit "${path}" passes the ${MAX_REPORT_BYTES} bytes plug suggest reads from all its reports together`,
  );
}

/** stdin, up to the cap. */
async function readStdin(budget: ReadBudget): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for await (const chunk of Deno.stdin.readable) {
    bytes += chunk.length;
    if (bytes > MAX_REPORT_BYTES) {
      throw new UsageError(`audit "-" is over ${MAX_REPORT_BYTES} bytes`);
    }
    if (bytes > budget.left) throw overBudget("-");
    chunks.push(chunk);
  }
  budget.left -= bytes;
  return concatBytes(chunks);
}

async function readReport(path: string, budget: ReadBudget): Promise<AuditLog> {
  const bytes = await readCapped(path, budget);
  const { raw } = parseCapped(bytes, REPORT_STRUCTURE, (detail) => {
    throw new UsageError(
      detail.startsWith("is not JSON")
        ? `audit "${path}" is not JSON: write it with plug audit --json`
        : `audit "${path}" is not a plug audit --json report: it ${detail}`,
    );
  });
  const parsed = Report.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(
      `audit "${path}" is not a plug audit --json report: at ${
        issue.path.join(".") || "(root)"
      }: ${issue.message}`,
    );
  }
  return parsed.data as AuditLog;
}

/**
 * The most notes plug suggest writes, each cut to 1,000 characters: a report of a million values
 * no entry can grant was a million lines on stderr, each up to 32 KB (review 91).
 */
const MAX_SHOWN_NOTES = 100;

/**
 * `plug suggest <audit.json> [...]` (`-` reads stdin): the narrowest
 * `plugbox.json` for what the audited runs touched on stdout; notes and
 * warnings on stderr.
 */
export async function suggestCommand(args: ParsedArgs, io: Output): Promise<number> {
  if (args.positional.length === 0) {
    throw new UsageError(
      "plug suggest needs one or more files written by plug audit --json (- for stdin)",
    );
  }
  if (args.positional.filter((path) => path === "-").length > 1) {
    throw new UsageError("plug suggest reads stdin (-) once; give it once");
  }
  const logs = [];
  const budget = { left: MAX_REPORT_BYTES };
  for (const path of args.positional) logs.push(await readReport(path, budget));
  const { manifest, notes, warnings } = suggestManifest(logs);
  for (const warning of warnings) io.err(`warning: ${warning}`);
  for (const note of notes.slice(0, MAX_SHOWN_NOTES)) io.err(`note: ${neutralize(note, 1000)}`);
  if (notes.length > MAX_SHOWN_NOTES) {
    io.err(`note: and ${notes.length - MAX_SHOWN_NOTES} more notes, not shown`);
  }
  outJson(io, manifest);
  return ExitCode.ok;
}
