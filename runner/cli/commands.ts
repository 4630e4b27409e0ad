/**
 * The `plug` commands: `call`, `inspect` and `check`, with their help, exit
 * codes and output. Everything the plugin says is shown neutralised.
 * @module
 */

import { type ParsedArgs, parseJsonArgs, UsageError } from "./args.ts";
import {
  IsolationUnavailableError,
  LockError,
  PermissionDeniedError,
  PluginError,
  PluginExitedError,
  PluginUnavailableError,
  PreflightError,
  ProtocolError,
  StartRefusedError,
  TimeoutError,
  ValidationError,
} from "../errors.ts";
import {
  canonicalLoose,
  isWithin,
  type LaunchOptions,
  type LaunchPlan,
  planPlugin,
  releaseUnlaunchedPlan,
} from "../sandbox/mod.ts";
import { describeRequest, describeUncovered } from "../sandbox/mod.ts";
import type { DescribedContract } from "../wire/mod.ts";
import { toCallError } from "../host/mod.ts";
import { launchPlugin, type Plugin } from "../host/mod.ts";
import { neutralize, terminalJson } from "../wire/mod.ts";
import { schemaText } from "./schema_text.ts";
import { isAbsolute } from "node:path";

/** Exit codes of `plug`, one per kind of outcome. */
export const ExitCode = {
  /** The command did what was asked. */
  ok: 0,
  /** Something unexpected (a bug, or the machine). */
  failure: 1,
  /** The command line is wrong: unknown command or option, bad JSON, a refused grant. */
  usage: 2,
  /** The plugin's implementation threw, or a value failed the contract. */
  pluginError: 3,
  /** The plugin needed a permission it was not granted. */
  permissionDenied: 4,
  /** A start or call passed its deadline. */
  timeout: 5,
  /** The plugin's process ended (crash, out of memory, killed). */
  crashed: 6,
  /**
   * The preflight or the lock refused the plugin (or, for `check`, would), or plugbox refused its
   * start before it ran (a `StartRefusedError`: the machine's budget of tasks, its cgroups).
   */
  refused: 7,
  /** The plugin broke the protocol (handshake, version, nonce, line cap). */
  protocol: 8,
  /** `--isolation=os` where bubblewrap cannot run. */
  isolation: 9,
} as const;

/** The exit code for an error a command ended with. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof UsageError || error instanceof TypeError) return ExitCode.usage;
  // Before PluginError: it is one (the plugin's report of a denial).
  if (error instanceof PermissionDeniedError) return ExitCode.permissionDenied;
  if (error instanceof PluginError || error instanceof ValidationError) return ExitCode.pluginError;
  if (error instanceof TimeoutError) return ExitCode.timeout;
  if (error instanceof PluginExitedError || error instanceof PluginUnavailableError) {
    return ExitCode.crashed;
  }
  if (error instanceof PreflightError || error instanceof LockError) return ExitCode.refused;
  if (error instanceof StartRefusedError) return ExitCode.refused;
  if (error instanceof ProtocolError) return ExitCode.protocol;
  if (error instanceof IsolationUnavailableError) return ExitCode.isolation;
  return ExitCode.failure;
}

/** Where a command writes. */
export interface Output {
  /** Writes one line of results (stdout). */
  out(line: string): void;
  /** Writes one line of errors or logs (stderr). */
  err(line: string): void;
}

/**
 * Wraps an output so that every line it writes is neutralised (THREATS T20): a
 * plugin's names, file names, specifiers or results cannot drive the
 * terminal or forge a line, whatever path they took to the output. Already
 * neutral text passes unchanged; multi-line text of plugbox's own (help,
 * indented JSON) is written a line a call.
 */
export function terminalOutput(io: Output): Output {
  // One line a call, its newlines escaped too: text that carries a plugin's or a folder's words
  // (a path, a note, a lock's error) cannot start a line of its own (review 42).
  const safe = (text: string) => neutralize(text, Number.MAX_SAFE_INTEGER);
  return { out: (text) => io.out(safe(text)), err: (text) => io.err(safe(text)) };
}

/**
 * Writes `value` as indented JSON, a line a call: JSON keeps every newline
 * inside a string escaped, so only its own layout starts lines.
 */
export function outJson(io: Output, value: unknown): void {
  for (const line of terminalJson(value, 2).split("\n")) io.out(line);
}

/** The most of an error's line `plug` shows without --verbose. */
export const MAX_ERROR_LINE = 2000;

/**
 * An error's line as `plug` shows it: in part unless --verbose. It quotes what it refused, and an
 * argument, a path or a grant of 120,000 characters was quoted whole (review 165).
 */
export function shownError(line: string, args: { verbose: boolean }): string {
  return args.verbose ? line : neutralize(line, MAX_ERROR_LINE);
}

/** The launch options a command line asks for. */
export function launchOptions(args: ParsedArgs): LaunchOptions {
  return {
    permissions: args.permissions,
    unsafe: args.unsafe,
    isolation: args.isolation,
    memoryLimitMiB: args.memoryLimitMiB,
    manifest: args.manifest,
    deno: args.deno,
    name: args.name,
    lock: args.lock === undefined ? undefined : { path: args.lock, policy: args.lockPolicy },
  };
}

/**
 * A denied path the plugin got as a relative argument: it resolved in the
 * plugin's working directory (its snapshot), not the person's. Says which
 * absolute path they meant, when a grant covers it.
 */
function relativePathHint(error: unknown, plan: LaunchPlan, params: unknown[]): string | undefined {
  if (!(error instanceof PermissionDeniedError)) return undefined;
  const granted = [...plan.grants.read, ...plan.grants.write];
  for (const [i, value] of params.entries()) {
    if (typeof value !== "string" || value === "" || isAbsolute(value) || value.length > 4096) {
      continue;
    }
    // In the grants' one form: spelled through a link (or granted "/"), the path a grant covers
    // got no hint, and the one shown was one Deno denies (review 137).
    const meant = canonicalLoose(value, Deno.cwd());
    if (granted.some((g) => isWithin(meant, g))) {
      return `hint: argument ${i + 1} ${JSON.stringify(value)} is a relative path; the plugin ` +
        `runs in its own folder, so it did not reach yours. Pass the absolute path: ${
          JSON.stringify(meant)
        }`;
    }
  }
  return undefined;
}

/** The module argument, or a usage error naming the command. */
export function needModule(args: ParsedArgs, command: string): string {
  const module = args.positional[0];
  if (!module) throw new UsageError(`plug ${command} needs a module; see plug ${command} --help`);
  return module;
}

/**
 * The one module a command takes: a second was ignored, and `plug check good evil` said of
 * "good" alone that nothing is refused, exit code 0 (review 91).
 */
export function onlyModule(args: ParsedArgs, command: string): string {
  const module = needModule(args, command);
  if (args.positional.length > 1) {
    throw new UsageError(
      `plug ${command} takes one module, got ${args.positional.length} arguments: ${
        JSON.stringify(args.positional[1].slice(0, 200))
      } follows ${JSON.stringify(module.slice(0, 200))}`,
    );
  }
  return module;
}

/** Starts a plugin without host contracts: the CLI speaks to whatever it serves. */
export async function launch(plan: LaunchPlan, args: ParsedArgs, io: Output): Promise<Plugin> {
  return await launchPlugin(plan, {
    contracts: [],
    callTimeout: args.timeout,
    startTimeout: args.timeout,
    onLog: args.verbose
      ? (entry) => io.err(`[${entry.plugin}] ${entry.level}: ${entry.message}`)
      : undefined,
  });
}

/** `plug call <module> <contract>.<method> [json-arg ...]` */
export async function callCommand(args: ParsedArgs, io: Output): Promise<number> {
  const module = needModule(args, "call");
  const method = args.positional[1];
  if (!method || !/^[^.]+\.[^.]+$/.test(method)) {
    throw new UsageError(
      `plug call needs <contract>.<method> after the module, got ${JSON.stringify(method ?? "")}`,
    );
  }
  const params = parseJsonArgs(args.positional.slice(2));
  const plan = await planPlugin(module, launchOptions(args));
  const plugin = await launch(plan, args, io);
  try {
    const [contract, name] = method.split(".");
    const served = plugin.served.find((c) => c.name === contract);
    if (!served?.methods.includes(name)) {
      const list = plugin.served.flatMap((c) => c.methods.map((m) => `${c.name}.${m}`)).join(", ");
      throw new UsageError(
        `plugin "${plugin.name}" has no method "${neutralize(method, 200)}" (it serves ${
          neutralize(list || "nothing", 2000)
        })`,
      );
    }
    const result = await plugin.call(method, params).catch((error) => {
      const mapped = toCallError(error, plugin.name, contract, name);
      const hint = relativePathHint(mapped, plan, params);
      if (hint) io.err(hint);
      throw mapped;
    });
    // Valid JSON, with every character that could drive a terminal escaped (THREATS T20).
    io.out(terminalJson(result ?? null));
    return ExitCode.ok;
  } finally {
    await plugin.close();
  }
}

function requestsOf(
  plan: LaunchPlan,
): { kind: string; value: string; covers: string; reason: string }[] {
  return plan.manifest.requests.map((r) => ({ ...r }));
}

/** The most of one described schema `plug inspect --json` prints, as JSON text. */
const MAX_SHOWN_SCHEMA = 64 * 1024;
/** The most of all of them. */
const MAX_SHOWN_SCHEMAS = 1024 * 1024;

/**
 * The contracts as `plug inspect --json` prints them: a schema is the plugin's text, and one
 * over {@linkcode MAX_SHOWN_SCHEMA} (or past {@linkcode MAX_SHOWN_SCHEMAS} in all) is named by
 * its size instead. Printed whole, one description of 8 MiB was one line of 8 MiB (review 85).
 */
function shownContracts(contracts: DescribedContract[]): DescribedContract[] {
  let left = MAX_SHOWN_SCHEMAS;
  const shown = (schema: unknown): unknown => {
    const size = (JSON.stringify(schema) ?? "").length;
    if (size > MAX_SHOWN_SCHEMA || size > left) {
      return `(a schema of ${size} characters, not shown)`;
    }
    left -= size;
    return schema;
  };
  return contracts.map((c) => ({
    ...c,
    methods: c.methods.map((m) => ({ ...m, input: shown(m.input), output: shown(m.output) })),
  }));
}

/**
 * The most methods the text view lists, across contracts. A description may name 100 contracts
 * of 1,000 methods: 100,000 lines of the plugin's words after plugbox's own (review 91).
 */
const MAX_SHOWN_METHODS = 1000;

function contractLines(contracts: DescribedContract[]): string[] {
  const lines: string[] = [];
  let left = MAX_SHOWN_METHODS;
  let hidden = 0;
  let cut = 0;
  for (const c of contracts) {
    const listed = left > 0 ? c.methods.slice(0, left) : undefined;
    if (listed) lines.push(`  ${neutralize(c.name, 64)} v${c.version}`);
    for (const m of listed ?? []) {
      lines.push(
        `    ${neutralize(m.name, 64)}${schemaText(m.input, true)}: ${schemaText(m.output)}`,
      );
    }
    left -= listed?.length ?? 0;
    hidden += c.methods.length - (listed?.length ?? 0);
    if (!listed || listed.length < c.methods.length) cut++;
  }
  if (cut) {
    lines.push(`  and ${hidden} more methods of ${cut} contracts (plug inspect --json lists them)`);
  }
  return lines;
}

/** `plug inspect <module>`: contracts, schemas, requested permissions, module graph. */
export async function inspectCommand(args: ParsedArgs, io: Output): Promise<number> {
  const module = onlyModule(args, "inspect");
  // The grants are reviewed against the manifest, not applied: inspect shows
  // the difference, and runs the plugin (to ask it to describe itself) with
  // no permission at all.
  const options = launchOptions(args);
  const plan = await planPlugin(module, { ...options, manifest: "ignore" });
  // The run is planned on its own (no grants), with the memory limit. It must be the content
  // just reviewed (and locked, when asked): a folder changing meanwhile would otherwise run code
  // no lock approved, under the report of code it did (review 42).
  let bare: LaunchPlan;
  try {
    bare = await planPlugin(module, {
      name: options.name,
      isolation: options.isolation,
      deno: options.deno,
      memoryLimitMiB: options.memoryLimitMiB,
    });
  } finally {
    // Only read, never launched: its snapshot's lease goes (review 160: it was held to the
    // process's end, and its file stayed in the cache's snapshots/.use for good).
    releaseUnlaunchedPlan(plan);
  }
  if (bare.snapshot.hash !== plan.snapshot.hash) {
    releaseUnlaunchedPlan(bare);
    throw new PreflightError({
      plugin: plan.name,
      reason: "changed",
      path: plan.root,
      detail: `"${neutralize(plan.root, 300)}" changed while it was inspected; inspect it again`,
    });
  }
  const plugin = await launch(bare, args, io);
  let contracts: DescribedContract[];
  try {
    contracts = await plugin.describe(args.timeout ?? 5000);
  } finally {
    await plugin.close();
  }
  const report = {
    name: plan.name,
    root: plan.root,
    kind: plan.kind,
    isolation: plan.isolation,
    description: plan.manifest.manifest.description &&
      neutralize(plan.manifest.manifest.description, 300),
    manifest: plan.manifest.found,
    requests: requestsOf(plan),
    grantedNotRequested: plan.manifest.uncovered,
    graph: plan.graph,
    snapshot: {
      dir: plan.snapshot.dir,
      files: plan.snapshot.files,
      bytes: plan.snapshot.bytes,
      hash: plan.snapshot.hash,
    },
    contracts,
  };
  if (args.json) {
    outJson(io, { ...report, contracts: shownContracts(contracts) });
    return ExitCode.ok;
  }
  const lines = [
    `plugin      ${report.name}  (${report.root})`,
    ...(report.description ? [`description ${report.description}`] : []),
    `isolation   ${report.isolation}`,
    `snapshot    ${report.snapshot.files} files, ${report.snapshot.bytes} bytes, in ${report.snapshot.dir}`,
    `content     ${plan.snapshot.hash} (plug approve --expect=HASH seals only this)`,
    plan.kind === "command"
      ? `graph       none: a command plugin (${
        neutralize(plan.manifest.manifest.command?.join(" ") ?? "its command", 300)
      }), under the OS layer only`
      : `graph       ${plan.graph.files.length} files of the plugin (${
        neutralize(plan.graph.files.join(", "), 4000)
      }), ` +
        `${plan.graph.sdkModules} from plugbox's SDK, node built-ins: ${
          plan.graph.builtins.join(", ") || "none"
        }`,
    report.manifest ? "requests (plugbox.json):" : "requests    nothing (no plugbox.json)",
    ...plan.manifest.requests.map((r) => `  ${describeRequest(r)}: ${r.reason}`),
    ...(report.grantedNotRequested.length
      ? [`granted but not requested: ${describeUncovered(report.grantedNotRequested)}`]
      : []),
    "contracts:",
    ...contractLines(contracts),
  ];
  for (const line of lines) io.out(line);
  return ExitCode.ok;
}

/** `plug check <module> [grants]`: the preflight alone, and what it would refuse. */
export async function checkCommand(args: ParsedArgs, io: Output): Promise<number> {
  const module = onlyModule(args, "check");
  try {
    const plan = await planPlugin(module, launchOptions(args));
    // Only checked, never launched: its snapshot's lease goes now (review 160).
    releaseUnlaunchedPlan(plan);
    const summary = {
      ok: true,
      isolation: plan.isolation,
      notes: plan.notes,
      graph: plan.graph,
      command: [plan.command, ...plan.args],
      // Run by hand, that command line runs the plugin only after a first line on stdin.
      waitsForGo: plan.waitsForGo,
    };
    if (args.json) outJson(io, summary);
    else {
      io.out(
        `ok: "${plan.name}" would start under isolation "${plan.isolation}"; nothing is refused`,
      );
      for (const note of plan.notes) io.out(`note: ${note}`);
    }
    return ExitCode.ok;
  } catch (error) {
    if (!(error instanceof PreflightError) && !(error instanceof TypeError)) throw error;
    // A bad grant's message quotes it: in part unless --verbose, as plug's error line (review 165).
    const refusals = error instanceof PreflightError && error.all.length
      ? error.all
      : [shownError(error.message.replace(/^Refused to start plugin "[^"]*": /, ""), args)];
    if (args.json) {
      outJson(io, { ok: false, error: error.name, refused: refusals });
    } else for (const refusal of refusals) io.out(`refused: ${refusal}`);
    // A bad grant or option is the command line's fault here as in every command (2), so a script
    // reads one code for one cause; only what the preflight refuses is 7 (review 91).
    return error instanceof PreflightError ? ExitCode.refused : exitCodeFor(error);
  }
}
