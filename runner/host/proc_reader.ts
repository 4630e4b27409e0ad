/**
 * The host's view of a plugin's processes, through a small POSIX shell it
 * keeps open: Deno 2.9.6 lets a program read `/proc` only with
 * `--allow-all`, and plugbox asks its hosts for no such thing (`sh` is
 * already in their `--allow-run`). The shell answers one request per line:
 * the CPU time of every process in a tree (from each process's `stat`, its
 * children from every thread's `children`), or a signal to some of them.
 * @module
 */

// Requests: "tree PID" (answer: "pid ticks pid ticks ..."), "usage FILE" (a cgroup's
// cpuacct.usage in ns: answer "u" and the number, or "u" alone when it cannot be read),
// "sched PIDS" (their threads' time waiting runnable for a CPU, in µs, summed from each
// /proc/PID/task/TID/schedstat, and how many are runnable now: answer "s" WAIT READY),
// "main PIDS" (the same for their main threads only; past 1024 threads either answers "bad"),
// "stop PIDS", "cont PIDS" (answer: "").
// Ticks are utime + stime + cutime + cstime; at most 4096 processes are walked.
const SCRIPT = `
while read -r cmd args; do
  case "$cmd" in
    tree)
      todo="$args"; out=""; n=0
      while [ -n "$todo" ] && [ "$n" -lt 4096 ]; do
        set -- $todo; [ "$#" -gt 0 ] || break
        p="$1"; shift; todo="$*"; n=$((n + 1))
        # The name (comm) is the plugin's text and may hold newlines, spaces, ')' or '*': read
        # every line, keep what follows the last ') ' (kernel numbers only), and check each
        # field is digits before any arithmetic. Anything else answers "bad": the host fails closed.
        s=""; l=""
        { while IFS= read -r l || [ -n "$l" ]; do s="$s $l"; l=""; done < "/proc/$p/stat"; } 2>/dev/null
        [ -n "$s" ] || continue
        set -f; set -- \${s##*) }; set +f
        case "\${12}:\${13}:\${14}:\${15}" in
          *[!0-9:]*|:*|*::*|*:) echo "bad $p"; continue 2;;
        esac
        out="$out $p $((\${12} + \${13} + \${14} + \${15}))"
        for f in /proc/$p/task/*/children; do
          kids=""; { read -r kids < "$f"; } 2>/dev/null; todo="$todo $kids"
        done
      done
      echo "$out";;
    usage) u=""; { read -r u < "$args"; } 2>/dev/null; echo "u$u";;
    sched|main)
      wait=0; ready=0; n=0
      for p in $args; do
        if [ "$cmd" = main ]; then set -- "/proc/$p/task/$p"; else set -- /proc/$p/task/*; fi
        for d in "$@"; do
          # Past 1024 threads, no answer ("bad"): a reading must not hold this shell for seconds.
          n=$((n + 1)); [ "$n" -le 1024 ] || break 2
          s=""; { read -r s < "$d/schedstat"; } 2>/dev/null
          set -f; set -- $s; set +f
          case "$1:$2" in *[!0-9:]*|:*|*:) continue;; esac
          wait=$((wait + $2 / 1000))
          # The state follows the last ') ' of stat (the name before it is the plugin's text).
          s=""; l=""
          { while IFS= read -r l || [ -n "$l" ]; do s="$s $l"; l=""; done < "$d/stat"; } 2>/dev/null
          case "\${s##*) }" in R*) ready=$((ready + 1));; esac
        done
      done
      if [ "$n" -le 1024 ]; then echo "s$wait $ready"; else echo bad; fi;;
    stop) kill -STOP $args 2>/dev/null; echo;;
    cont) kill -CONT $args 2>/dev/null; echo;;
    *) echo;;
  esac
done
`;

/** Time the shell spent answering, in ms, added up across requests (waits in line left out). */
export interface Spent {
  ms: number;
}

/** Clock ticks per second in `/proc/<pid>/stat` (USER_HZ, 100 on Linux). */
const TICK_MS = 10;

/**
 * One shell answering questions about processes, one at a time.
 *
 * @example
 * ```ts ignore
 * await using reader = new ProcReader("/usr/bin/sh");
 * const cpu = await reader.tree(pid); // Map of pid to CPU ms
 * ```
 */
export class ProcReader implements AsyncDisposable {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #lines: ReadableStreamDefaultReader<string>;
  #buffered = "";
  #queue: Promise<unknown> = Promise.resolve();

  /** Starts the shell (`sh`, by its path). */
  constructor(sh: string) {
    this.#child = new Deno.Command(sh, {
      args: ["-c", SCRIPT],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
      clearEnv: true,
      env: { PATH: "/usr/bin:/bin" },
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#lines = this.#child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  }

  async #line(): Promise<string> {
    while (!this.#buffered.includes("\n")) {
      const { value, done } = await this.#lines.read();
      if (done) throw new Error("the process reader ended");
      this.#buffered += value;
      if (this.#buffered.length > 1 << 20) throw new Error("the process reader said too much");
    }
    const end = this.#buffered.indexOf("\n");
    const line = this.#buffered.slice(0, end);
    this.#buffered = this.#buffered.slice(end + 1);
    return line;
  }

  /** `spent.ms` grows by the time this request took once its turn came (not its wait in line). */
  #ask(request: string, spent?: Spent): Promise<string> {
    const answer = this.#queue.then(async () => {
      const began = performance.now();
      try {
        await this.#writer.write(new TextEncoder().encode(request + "\n"));
        return await this.#line();
      } finally {
        if (spent) spent.ms += performance.now() - began;
      }
    });
    this.#queue = answer.catch(() => {});
    return answer;
  }

  /** CPU time, in ms, of every live process in the tree rooted at `root`. */
  async tree(root: number, spent?: Spent): Promise<Map<number, number>> {
    const answer = (await this.#ask(`tree ${Math.trunc(root)}`, spent)).trim();
    // Only digits and spaces: "bad PID" (a stat line that did not parse) or anything else is an error.
    if (!/^[0-9 ]*$/.test(answer)) throw new Error("the process reader could not read a process");
    const words = answer === "" ? [] : answer.split(/ +/);
    if (words.length % 2 !== 0) throw new Error("the process reader answered out of step");
    const found = new Map<number, number>();
    for (let i = 0; i + 1 < words.length; i += 2) {
      found.set(Number(words[i]), Number(words[i + 1]) * TICK_MS);
    }
    return found;
  }

  /**
   * CPU time, in ms, in a cgroup's `cpuacct.usage` (a path plugbox made, never
   * the plugin's text), or undefined while it cannot be read.
   */
  async usage(file: string, spent?: Spent): Promise<number | undefined> {
    if (/[\n\r]/.test(file)) throw new Error("a cgroup path holds a line break");
    const answer = await this.#ask(`usage ${file}`, spent);
    if (answer === "u") return undefined;
    if (!/^u[0-9]{1,20}$/.test(answer)) {
      throw new Error("the process reader could not read a cgroup");
    }
    return Number(answer.slice(1)) / 1e6;
  }

  /**
   * How long the threads of `pids` (or only their main threads) waited
   * runnable for a CPU, in ms, summed over the live ones, and how many are
   * runnable now (gone ones are skipped). The kernel adds a wait to the
   * total only once the thread runs: one still waiting shows as runnable.
   */
  async sched(
    pids: number[],
    threads: "all" | "main" = "all",
    spent?: Spent,
  ): Promise<{ waitMs: number; runnable: number }> {
    const verb = threads === "all" ? "sched" : "main";
    const answer = await this.#ask(`${verb} ${pids.map((p) => Math.trunc(p)).join(" ")}`, spent);
    const match = /^s([0-9]{1,20}) ([0-9]{1,9})$/.exec(answer);
    if (!match) throw new Error("the process reader could not read schedstat");
    return { waitMs: Number(match[1]) / 1000, runnable: Number(match[2]) };
  }

  /** Sends SIGSTOP or SIGCONT to `pids` (gone ones are skipped). */
  async signal(pids: number[], signal: "SIGSTOP" | "SIGCONT"): Promise<void> {
    if (pids.length === 0) return;
    const verb = signal === "SIGSTOP" ? "stop" : "cont";
    await this.#ask(`${verb} ${pids.map((p) => Math.trunc(p)).join(" ")}`);
  }

  /** Ends the shell. */
  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
    await this.#lines.cancel().catch(() => {});
    await this.#child.status;
  }

  /** Same as {@linkcode ProcReader.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
