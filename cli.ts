/**
 * The `plug` command: call a plugin's method, inspect what it serves and
 * requests, or check it against the sandbox preflight, from the shell.
 *
 * ```sh
 * deno task plug call plugins/hello/main.ts greeter.sayHello '"a"'
 * deno task plug inspect plugins/fetcher/main.ts --allow-net=127.0.0.1:8080
 * deno task plug check plugins/summarizer/main.ts --allow-read=./docs
 * deno task plug audit plugins/kv/main.ts kv.keys --allow-env=KV_DIR --allow-read=./data
 * deno task plug approve plugins/kv/main.ts --allow-env=KV_DIR --allow-read=./data
 * deno task plug prune --unused-days=7
 * ```
 *
 * @example Run it from code
 * ```ts ignore
 * import { main } from "@plugbox/plugbox/cli";
 * Deno.exit(await main(["check", "./plugins/hello/main.ts"]));
 * ```
 * @module
 */

import { didYouMean, parseArgs, UsageError } from "./runner/cli/mod.ts";
import {
  approveCommand,
  auditCommand,
  callAuditedCommand,
  callCommand,
  checkCommand,
  ExitCode,
  exitCodeFor,
  inspectCommand,
  type Output,
  pruneCommand,
  shownError,
  suggestCommand,
  terminalOutput,
} from "./runner/cli/mod.ts";

export { ExitCode, type Output } from "./runner/cli/mod.ts";

const GRANTS = `Permissions (deny by default; spelled as Deno spells them, values comma-separated):
  --allow-read=PATH[,PATH]     --allow-write=PATH[,PATH]    --allow-net=HOST[:PORT][,...]
  --allow-env=NAME[,NAME]      --allow-sys=NAME[,NAME]      --allow-run=PROG  --allow-ffi=LIB  --allow-all
Acknowledgements for grants that weaken the sandbox:
  --unsafe-private-network  --unsafe-write-code  --unsafe-sys-actions  --unsafe-write-as-root
  --unsafe-run  --unsafe-ffi  --unsafe-all  --unsafe-lock-queries
Sandbox:
  --isolation=auto|os|landlock|deno   (default auto: bubblewrap where it works)
  --memory=MB                heap cap; writable memory is capped too (default 512)
  --manifest=refuse|narrow|ignore   grants beyond plugbox.json (default refuse)
  --deno=PATH                the Deno binary plugins run with (default $PLUGBOX_DENO, else this one)
  --name=NAME                the plugin's name in messages and the lock (default its folder's name)
  --lock[=PATH]              start only what the lock approved (default plugbox.lock)
  --lock-policy=refuse|same-or-less   with --lock, a changed plugin: refuse it, or start it
                             when it asks for no more than was approved (default same-or-less)`;

/**
 * The options above but those a command does not read (plug refuses them there): a help that
 * listed --manifest for inspect, which reviews with the manifest ignored, offered an option the
 * command refuses.
 */
function grantsWithout(...flags: string[]): string {
  let lines = GRANTS.split("\n");
  for (const flag of flags) {
    const at = lines.findIndex((line) => line.startsWith(`  ${flag}`));
    let end = at + 1;
    while (/^ {20,}\S/.test(lines[end] ?? "")) end++; // the option's own continued lines
    lines = [...lines.slice(0, at), ...lines.slice(end)];
  }
  return lines.join("\n");
}

const HELP: Record<string, string> = {
  "": `plug: run untrusted plugins from the shell.

Usage: plug <command> [options] [arguments]

Commands:
  call <module> <contract>.<method> [json-arg ...]   call one method, print the JSON result
  inspect <module>                                   contracts, schemas, requested permissions, module graph
  check <module> [grants]                            run the sandbox preflight only; print what would be refused
  audit <module> <contract>.<method> [json-arg ...]  call one method, print every permission it used or was denied
  suggest <audit.json> [...]                         the narrowest plugbox.json for audited runs
  approve <module> [grants]                          record the plugin and its grants in plugbox.lock
  prune [--unused-days=N] [--max-mb=N]               remove cached snapshots no plugin uses

Run "plug <command> --help" for a command's options.

Exit codes: 0 ok, 1 unexpected failure, 2 usage, 3 plugin error, 4 permission denied,
5 timeout, 6 plugin crashed, 7 refused by the preflight, 8 protocol error, 9 isolation unavailable.`,
  call: `Usage: plug call <module> <contract>.<method> [json-arg ...] [options]

Starts the plugin with the permissions given, calls the method with the JSON
arguments (strings need quotes: '"text"'; use -- before arguments that start
with --), prints the result as JSON on stdout, and stops the plugin.

Options:
  --timeout=MS   deadline for the start and for the call (default 10000 and 30000)
  --audit        record every permission check; print the audit on stderr
  --verbose      show the plugin's log lines and whole error messages on stderr
${GRANTS}`,
  inspect: `Usage: plug inspect <module> [grants] [options]

Shows the plugin's contracts with each method's argument and result types
(from zod's JSON Schema), the permissions its plugbox.json requests and why,
the grants given here that it did not request, and its module graph (the
first 1,000 methods; --json lists all). The plugin runs, to describe itself,
with no permission at all.

Options:
  --json         print one JSON object instead
  --timeout=MS   deadline for the start and for the description (default 10000 and 5000)
${grantsWithout("--manifest=")}`,
  check: `Usage: plug check <module> [grants] [options]

Runs the sandbox preflight without running the plugin: the folder walk and
snapshot, the grants, the manifest review, and the module-graph check. Prints
every refusal (exit code 7), or that nothing would be refused (exit code 0);
a grant or option refused as wrong on its own is exit code 2, as for call.

Options:
  --json         print one JSON object instead
${GRANTS}`,
  audit: `Usage: plug audit <module> <contract>.<method> [json-arg ...] [grants] [options]

Starts the plugin with the permissions given and every permission check
recorded (Deno's audit, read by plugbox), calls the method, stops the plugin,
and prints what it touched, grouped by kind: each path, host:port, variable
or sys name, whether the grants allowed it, how often, and in which call
(a value over 300 characters cut; --json keeps it whole). A relative path
after the plugin may have changed folder is UNSURE. The exit code is the
call's. Grant generously to learn what a plugin needs; a denied check is
recorded too. Grants of all, run or ffi cannot be audited.

Options:
  --json         print the call and the audit as one JSON object (for plug suggest)
  --timeout=MS   deadline for the start and for the call
${GRANTS}`,
  suggest: `Usage: plug suggest <audit.json> [...] [options]

Reads reports written by "plug audit --json" ("-" reads stdin) and prints the
narrowest plugbox.json that lets the same calls do what they did: each path
collapsed to the granted folder that held it (a denied path to itself, or its
nearest existing folder), hosts with ports, names as seen, and a placeholder
reason per entry for the author to write. What no entry can grant is printed
as a note on stderr (the first 100); an incomplete audit as a warning. Reports
are read up to 256 MiB, one or all together.`,
  approve: `Usage: plug approve <module> [grants] [options]

Records the plugin as it is now in the lock: its content hash, the permissions
its plugbox.json requests, and the grants given here. Prints what changed since
its last approval. A locked start (--lock) then runs it only as approved.

Options:
  --lock=PATH    the lock file (default plugbox.lock)
  --dry-run      show the difference; write nothing
  --expect=HASH  approve only this content (the hash plug inspect shows)
  --json         print the approval as one JSON object
${grantsWithout("--lock[", "--lock-policy=")}`,
  prune: `Usage: plug prune [--unused-days=N] [--max-mb=N] [options]

Removes from plugbox's cache ($PLUGBOX_CACHE_DIR, else $XDG_CACHE_HOME/plugbox,
else ~/.cache/plugbox) the snapshots of plugin folders that no plugin in any
host process runs from: those unused for N days, and, used longest ago first,
those over N MiB together; with them their module-graph verdicts, what
hosts killed midway left, and the Deno dirs ended plugins with a run, ffi
or all grant left. A snapshot removed is written again by the next
start that needs it. Prints what was removed and kept.

Options:
  --unused-days=N  remove every snapshot unused for N days
  --max-mb=N       keep the snapshots within N MiB (each counted as its bytes and 4 KiB a file)
  --json           print one JSON object instead`,
};

const COMMANDS: Record<
  string,
  (args: ReturnType<typeof parseArgs>, io: Output) => Promise<number>
> = {
  call: (args, io) => args.audit ? callAuditedCommand(args, io) : callCommand(args, io),
  inspect: inspectCommand,
  check: checkCommand,
  audit: auditCommand,
  suggest: suggestCommand,
  approve: approveCommand,
  prune: pruneCommand,
};

/**
 * Runs `plug` with `args` and returns the exit code; errors are written as
 * one line, `ErrorName: message`, on stderr.
 *
 * @example
 * ```ts ignore
 * import { main } from "@plugbox/plugbox/cli";
 * const code = await main(["call", "./plugins/hello/main.ts", "greeter.sayHello", '"a"']);
 * ```
 */
export async function main(
  args: readonly string[],
  output: Output = { out: (line) => console.log(line), err: (line) => console.error(line) },
): Promise<number> {
  const io = terminalOutput(output);
  let verbose = false;
  try {
    const parsed = parseArgs(args);
    verbose = parsed.verbose;
    if (parsed.help || parsed.command === undefined || parsed.command === "help") {
      const topic = parsed.command === "help" ? parsed.positional[0] ?? "" : parsed.command ?? "";
      // Own keys only: "toString" was found on Object.prototype (review 91).
      if (!Object.hasOwn(HELP, topic)) {
        throw new UsageError(
          `unknown command "${topic}"${didYouMean(topic, Object.keys(COMMANDS))}`,
        );
      }
      for (const line of HELP[topic].split("\n")) io.out(line);
      return parsed.command === undefined && !parsed.help ? ExitCode.usage : ExitCode.ok;
    }
    // `plug constructor` ran Object() and exited 0, `plug toString` too (review 91).
    const command = Object.hasOwn(COMMANDS, parsed.command) ? COMMANDS[parsed.command] : undefined;
    if (!command) {
      throw new UsageError(
        `unknown command "${parsed.command}"${
          didYouMean(parsed.command, Object.keys(COMMANDS))
        }; try plug --help`,
      );
    }
    return await command(parsed, io);
  } catch (error) {
    const name = error instanceof Error ? error.name : "Error";
    const message = error instanceof Error ? error.message : String(error);
    const [first, ...rest] = message.split("\n");
    io.err(shownError(`${name}: ${first}`, { verbose }));
    // What follows the first line (a plugin's stderr, say) is indented: it cannot pose as a line
    // of the CLI's own.
    if (verbose) { for (const line of rest) io.err(`    ${line}`); }
    if (!verbose) { for (const line of stderrTailOf(error)) io.err(line); }
    return exitCodeFor(error);
  }
}

/** Lines shown (without --verbose) when a plugin died or hung: why, in its own words. */
const TAIL_LINES = 10;

function stderrTailOf(error: unknown): string[] {
  const tail = (error as { stderrTail?: unknown })?.stderrTail;
  if (typeof tail !== "string" || tail.trim() === "") return [];
  const lines = tail.split("\n");
  const shown = lines.slice(-TAIL_LINES);
  const more = lines.length > shown.length ? ` (last ${shown.length} of ${lines.length})` : "";
  // Indented: the plugin's lines cannot pose as the CLI's own, nor end the block (review 44).
  return [`--- the plugin's stderr${more} ---`, ...shown.map((line) => `    ${line}`)];
}

if (import.meta.main) Deno.exit(await main(Deno.args));
