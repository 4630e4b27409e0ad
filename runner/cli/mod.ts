/**
 * The CLI room: the `plug` command's argument parsing (permission flags as
 * Deno spells them) and its commands (`call`, `inspect`, `check`, `audit`,
 * `suggest`, `approve`, `prune`).
 *
 * May import: `runner/host/`, `runner/sandbox/` (the preflight alone, for
 * `check`), `runner/wire/`, `runner/contract.ts`, `runner/errors.ts`.
 * @module
 */

export { parseArgs, UsageError } from "./args.ts";
export { didYouMean } from "../sandbox/mod.ts";
export { approveCommand } from "./approve_command.ts";
export { pruneCommand } from "./prune_command.ts";
export { auditCommand, callAuditedCommand, suggestCommand } from "./audit_commands.ts";
export {
  callCommand,
  checkCommand,
  ExitCode,
  exitCodeFor,
  inspectCommand,
  type Output,
  shownError,
  terminalOutput,
} from "./commands.ts";
