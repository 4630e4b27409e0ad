/**
 * A Deno script run as a session leader with no controlling terminal (as a
 * service is, or a program under `setsid`), given the path of a fresh
 * pseudo-terminal: an open of that path without O_NOCTTY makes it the
 * process's terminal, which the script shows in `/proc/self/stat`.
 * @module
 */

import { fileURLToPath } from "node:url";

// python3 makes the pseudo-terminal (Deno has no openpty) and keeps its leader side open.
const PYTHON = `import os, subprocess, sys
leader, follower = os.openpty()
name = os.ttyname(follower)
os.close(follower)
run = subprocess.run(["setsid", "-w", sys.argv[1], "run", "-A", sys.argv[2], name, *sys.argv[3:]],
    stdin=subprocess.DEVNULL, capture_output=True, text=True)
sys.stdout.write(run.stdout)
sys.stderr.write(run.stderr)`;

/**
 * Runs the fixture `script` (a path below tests/fixtures/) as a session
 * leader, with the terminal's path and then `args`: its stdout's lines, and
 * its stderr for the messages.
 */
export async function asSessionLeader(
  script: string,
  ...args: string[]
): Promise<{ lines: string[]; stderr: string }> {
  const path = fileURLToPath(new URL(`../fixtures/${script}`, import.meta.url));
  const out = await new Deno.Command("python3", {
    args: ["-c", PYTHON, Deno.execPath(), path, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    lines: decoder.decode(out.stdout).trim().split("\n"),
    stderr: decoder.decode(out.stderr),
  };
}

/** `/proc/self/stat`'s tty_nr: this process's controlling terminal, `"0"` for none. */
export function controllingTerminal(): string {
  return Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ")[4];
}
