/**
 * The module-graph check: before a plugin starts, resolve its module graph
 * (with `deno info`, under a deadline, a memory cap and the same isolation
 * as the plugin) and refuse every module outside the allowed roots, every
 * remote or npm module, and every import that does not resolve (THREATS
 * T1-T4, T12).
 * @module
 */

import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { PreflightError } from "../errors.ts";
import { neutralize, scanJson } from "../wire/mod.ts";
import { runCaptured } from "./exec.ts";
import { findAbsoluteImports } from "./import_suspects.ts";
import { isWithin } from "./paths.ts";
import { displayPath, filePathOf, outsideTarget, remoteHint, userText } from "./graph_messages.ts";

/** The largest `deno info` output read; a 2,000-file plugin needs a few MiB. */
const MAX_INFO_BYTES = 16 * 1024 * 1024;
/** Its shape before it is parsed. */
const INFO_STRUCTURE = { maxDepth: 16, maxMembers: 1_000_000 };
/** Refusals listed one by one; the rest are counted. */
const MAX_REFUSALS = 50;
/** Files, and bytes of them, read to name suspicious imports when `deno info` fails. */
const SUSPECT_FILES = 200;
const SUSPECT_BYTES = 4 * 1024 * 1024;

/** How to run `deno info` for one plugin. */
export interface GraphCheck {
  plugin: string;
  /** The command prefix (isolation wrappers) to run `deno info` under. */
  prefix: string[];
  deno: string;
  /** Entry module inside the snapshot. */
  entry: string;
  /** The snapshot folder. */
  snapshot: string;
  /** The plugin's original folder, to name files in messages. */
  root: string;
  /** Folders every local module must lie in: the snapshot and the SDK. */
  allowedRoots: string[];
  importMap: string;
  env: Record<string, string>;
  timeoutMs: number;
  /** The verdict's key: what the check decided under (see graph_cache.ts). */
  view: string;
  /** The start's: aborting kills `deno info` (and its wrappers) and rejects with its reason. */
  signal?: AbortSignal;
}

interface InfoModule {
  specifier: string;
  local?: string;
  size?: number;
  error?: string;
  dependencies?: {
    specifier: string;
    code?: { specifier?: string };
    type?: { specifier?: string };
  }[];
}

/** Schemes a plugin's graph may contain besides `file:` inside the roots. */
const SAFE_SCHEMES = new Set(["node:", "data:"]);

export interface ImportSite {
  /** The module that imports. */
  importer: string;
  /** The specifier as written in the importer. */
  written: string;
}

async function importSites(
  modules: InfoModule[],
  pace: () => Promise<void> | undefined,
): Promise<Map<string, ImportSite>> {
  const sites = new Map<string, ImportSite>();
  for (const module of modules) {
    await pace();
    for (const dep of module.dependencies ?? []) {
      for (const target of [dep.code?.specifier, dep.type?.specifier, dep.specifier]) {
        if (target && !sites.has(target)) {
          sites.set(target, { importer: module.specifier, written: dep.specifier });
        }
      }
    }
  }
  return sites;
}

function shown(text: string | undefined): string | undefined {
  return text === undefined ? undefined : neutralize(text, 300);
}

function realPathOf(path: string): string | undefined {
  try {
    return Deno.realPathSync(path);
  } catch {
    return undefined;
  }
}

/** How long the judging of a graph holds the host's thread before it lets other work run. */
const TURN_MS = 8;

/**
 * A pause of the judging, awaited once per module: every {@linkcode TURN_MS} it lets the host's
 * other work run (a timer's turn), then goes on unless the start was aborted meanwhile. A graph's
 * modules are the plugin's to multiply: one file of 20,000 imports of "./m.ts?<n>" (450 KB) is
 * 20,000 modules, whose judging held the host's thread 0.8 to 1.3 s, every other plugin's calls
 * unanswered (review 156).
 */
function pacer(signal: AbortSignal | undefined): () => Promise<void> | undefined {
  let began = performance.now();
  return () => {
    if (performance.now() - began < TURN_MS) return undefined;
    return new Promise<void>((resolve) => setTimeout(resolve, 0)).then(() => {
      signal?.throwIfAborted();
      began = performance.now();
    });
  };
}

/**
 * What is wrong with one module, or undefined when it is allowed. A local
 * module must lie in the allowed roots both as spelled (the path Deno will
 * open at run time, in whatever view it has then) and as its real path now
 * (THREATS T14): a link outside the roots that points in at check time could point
 * elsewhere at run time, or in another view.
 */
function judge(
  check: GraphCheck,
  module: InfoModule,
  site: ImportSite | undefined,
  reals: Map<string, string>,
): { reason: string; why: string } | undefined {
  const { specifier } = module;
  const scheme = specifier.slice(0, specifier.indexOf(":") + 1);
  // Loader errors quote the plugin's specifiers and file names.
  const error = module.error && neutralize(userText(check, module.error), 500);
  if (scheme === "file:") {
    const spelled = filePathOf(specifier);
    if (spelled === undefined) {
      return {
        reason: "unresolved",
        why: `is not a local file path (an encoded "/", or a host, in its file: URL)`,
      };
    }
    const path = module.local ?? spelled;
    // Once per file: the modules "./m.ts?1" to "./m.ts?20000" are one file (review 156).
    const real = reals.get(path) ?? reals.set(path, realPathOf(path) ?? path).get(path)!;
    const inside = (p: string) => check.allowedRoots.some((root) => isWithin(p, root));
    const own = "a plugin imports only files in its own folder";
    if (!inside(spelled) || !inside(path)) {
      const target = neutralize(outsideTarget(check, site, spelled), 300);
      return { reason: "outside-root", why: `leaves the plugin's folder ("${target}"); ${own}` };
    }
    if (!inside(real)) {
      const target = neutralize(real, 300);
      return {
        reason: "outside-root",
        why: `leaves the plugin's folder (real path "${target}"); ${own}`,
      };
    }
    if (error) return { reason: "unresolved", why: `cannot be loaded: ${error}` };
    return undefined;
  }
  if (SAFE_SCHEMES.has(scheme)) {
    return error ? { reason: "unresolved", why: `cannot be loaded: ${error}` } : undefined;
  }
  if (["http:", "https:", "jsr:", "npm:"].includes(scheme)) {
    return {
      reason: "remote",
      why: `is remote or from a registry; plugins load only local code${
        remoteHint(neutralize(site?.written ?? specifier, 200))
      }`,
    };
  }
  return { reason: "unresolved", why: `has an unsupported scheme "${neutralize(scheme, 40)}"` };
}

/**
 * Import-like string literals naming absolute paths, for messages when
 * `deno info` fails: at most 5, from at most 200 files and 4 MiB of them,
 * found in linear time (the files are the plugin's, and so the input).
 */
function suspects(check: GraphCheck): string[] {
  const found: string[] = [];
  const budget = { files: SUSPECT_FILES, bytes: SUSPECT_BYTES };
  const stack = [check.snapshot];
  while (stack.length > 0 && found.length < 5 && budget.files > 0) {
    const dir = stack.pop()!;
    for (const entry of Deno.readDirSync(dir)) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) stack.push(path);
      else if (entry.isFile && /\.[cm]?[jt]sx?$/.test(entry.name) && budget.files-- > 0) {
        const size = Deno.statSync(path).size;
        if (size > budget.bytes) continue;
        budget.bytes -= size;
        for (const specifier of findAbsoluteImports(Deno.readTextFileSync(path))) {
          found.push(`"${neutralize(specifier, 200)}" in ${shownPath(check, path)}`);
        }
      }
    }
  }
  return found.slice(0, 5);
}

function shownPath(check: GraphCheck, path: string): string {
  return neutralize(displayPath(check, pathToFileURL(path).href)!, 300);
}

/** The `deno info` arguments: the run's own loading flags, so it resolves what the run loads. */
export function infoArgs(check: Pick<GraphCheck, "importMap" | "entry">): string[] {
  return [
    "info",
    "--json",
    "--no-config",
    "--no-lock",
    "--no-remote",
    "--no-npm",
    `--import-map=${check.importMap}`,
    // As a file: URL (review 145): `deno info` takes a path as a URL unencoded, so a "#", "?",
    // "%", "\\", tab or newline in the cache folder cut or broke the specifiers of the snapshot,
    // and every start was refused as a plugin whose module "leaves the plugin's folder".
    pathToFileURL(check.entry).href,
  ];
}

/**
 * The exit code of plugbox's own wrapper (the prologue's `sh`, the launcher)
 * when a step before Deno fails; `deno info` itself exits 1 on a bad graph.
 */
const WRAPPER_FAILED = 125;

/**
 * Resolves the plugin's module graph and refuses the start when any module
 * is outside the allowed roots, remote, from a registry or unresolvable.
 *
 * @throws {PreflightError} naming the import and the file that imports it.
 */
export async function checkGraph(check: GraphCheck): Promise<GraphSummary> {
  const args = infoArgs(check);
  const [command, ...prefix] = [...check.prefix, check.deno];
  const result = await runCaptured(command, [...prefix, ...args], {
    timeoutMs: check.timeoutMs,
    env: check.env,
    cwd: check.snapshot,
    maxStdoutBytes: MAX_INFO_BYTES,
    signal: check.signal,
  });
  // The user's own path, not the snapshot's: a refusal of the graph as a whole named no file, and
  // a host starting several folders could not tell which (review 156).
  const entry = displayPath(check, pathToFileURL(check.entry).href)!;
  const graph = `the module graph of "${neutralize(entry, 300)}"`;
  if (!result.success) {
    const why = result.timedOut
      ? `resolving ${graph} took longer than ${check.timeoutMs} ms (an import may name a FIFO or device)`
      : result.overflowed
      ? `the description of ${graph} passed ${MAX_INFO_BYTES} bytes`
      : result.code === WRAPPER_FAILED
      ? `plugbox's wrapper failed before Deno ran (code ${WRAPPER_FAILED}: a limit, cgroup or ` +
        `sandbox step of this host): ${neutralize(userText(check, result.stderr.trim()), 1000)}`
      : `resolving ${graph} failed (${
        result.signal ?? `code ${result.code}`
      }; an import may name a device): ${neutralize(userText(check, result.stderr.trim()), 1000)}`;
    const names = suspects(check);
    throw new PreflightError({
      plugin: check.plugin,
      reason: "graph-failed",
      path: entry,
      detail: neutralize(
        names.length ? `${why}; suspicious imports: ${names.join(", ")}` : why,
        4000,
      ),
    });
  }
  const shape = scanJson(new TextEncoder().encode(result.stdout), INFO_STRUCTURE);
  if (shape.verdict !== "ok") {
    throw new PreflightError({
      plugin: check.plugin,
      reason: "graph-failed",
      path: entry,
      // Not JSON at all is no size: a --deno that is no Deno was said to describe too much (r165).
      detail: shape.verdict === "not-json"
        ? `the description of ${graph} is not JSON: is the Deno binary Deno's (the "deno" option, PLUGBOX_DENO, plug --deno)?`
        : `the description of ${graph} is too large to check (${shape.verdict})`,
    });
  }
  const info = JSON.parse(result.stdout) as { modules: InfoModule[] };
  const pace = pacer(check.signal);
  const sites = await importSites(info.modules, pace);
  const refusals: PreflightError[] = [];
  const reals = new Map<string, string>();
  let unlisted = 0;
  for (const module of info.modules) {
    await pace();
    const site = sites.get(module.specifier);
    const problem = judge(check, module, site, reals);
    if (!problem) continue;
    if (refusals.length === MAX_REFUSALS) {
      unlisted++;
      continue;
    }
    // Specifiers, file names and loader errors are the plugin's text.
    const importer = shown(displayPath(check, site?.importer));
    const written = shown(site?.written ?? displayPath(check, module.specifier))!;
    refusals.push(
      new PreflightError({
        plugin: check.plugin,
        reason: problem.reason,
        specifier: written,
        importer,
        detail: neutralize(
          `${
            importer ? `import "${written}" in "${importer}"` : `module "${written}"`
          } ${problem.why}`,
          2000,
        ),
      }),
    );
  }
  if (refusals.length > 0) {
    // The first refusal is thrown; every one is listed, so a check can show them all.
    const first = refusals[0];
    first.all.push(
      ...refusals.map((r) => r.message.replace(/^Refused to start plugin "[^"]*": /, "")),
    );
    if (unlisted > 0) first.all.push(`and ${unlisted} more modules refused`);
    throw first;
  }
  return await summarise(check, info.modules, pace);
}

/**
 * What a plugin's module graph holds, for `plug inspect`.
 *
 * @example
 * ```ts ignore
 * import { previewStart } from "@plugbox/plugbox";
 *
 * const { graph } = await previewStart("./plugins/hello/main.ts");
 * console.log(`${graph.modules} modules, ${graph.sdkModules} of them the SDK`);
 * console.log(`own files: ${graph.files.join(", ")} (${graph.bytes} bytes)`);
 * console.log(`node built-ins: ${graph.builtins.join(", ") || "none"}`);
 * ```
 */
export interface GraphSummary {
  /** Modules in the graph, SDK included. */
  modules: number;
  /** The plugin's own files in the graph, relative to its folder. */
  files: string[];
  /** Their total size in bytes. */
  bytes: number;
  /** Modules from plugbox's SDK bundle (the SDK and zod). */
  sdkModules: number;
  /** Node built-ins imported (`node:fs`, ...), which Deno's permissions govern. */
  builtins: string[];
  /**
   * The view the verdict was made in: a hash of the isolation, the mounts
   * and flags (the run's own), the environment, Deno and the SDK.
   */
  view: string;
}

async function summarise(
  check: GraphCheck,
  modules: InfoModule[],
  pace: () => Promise<void> | undefined,
): Promise<GraphSummary> {
  // A file once, however many specifiers load it ("./m.ts?1", "./m.ts?2": review 156 listed one
  // file 20,000 times, its size counted each time).
  const files = new Set<string>();
  let bytes = 0;
  let sdkModules = 0;
  const builtins: string[] = [];
  for (const module of modules) {
    await pace();
    if (module.specifier.startsWith("node:")) builtins.push(module.specifier);
    if (!module.specifier.startsWith("file:")) continue;
    const path = filePathOf(module.specifier);
    if (path === undefined) continue; // refused by judge()
    if (isWithin(path, check.snapshot)) {
      const file = relative(check.snapshot, path);
      if (!files.has(file)) bytes += module.size ?? 0;
      files.add(file);
    } else sdkModules++;
  }
  return {
    modules: modules.length,
    files: [...files].sort(),
    bytes,
    sdkModules,
    builtins: builtins.sort(),
    view: check.view,
  };
}
