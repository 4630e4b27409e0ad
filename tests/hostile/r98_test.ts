// test runner: alone (it judges the host thread's CPU against a bound; a neighbour's starts on the
// same two cores add to it)
// Review 98: an attack on reviews 95's to 97's fixes. Each test failed on the code it was written
// against (81b51b6).
import assert from "node:assert/strict";
import { PreflightError, startPlugin } from "../../mod.ts";
import { checkGrantLinks } from "../../runner/sandbox/grant_links.ts";
import type { ResolvedGrants } from "../../runner/sandbox/permissions.ts";
import { hostile } from "./_hostile.ts";
import { measure, shown } from "./_r73.ts";
import { Probe } from "./plugins/probe.ts";

/** This process's read syscalls so far, every thread's (/proc/self/io). */
function readCalls(): number {
  return Number(/^syscr: (\d+)$/m.exec(Deno.readTextFileSync("/proc/self/io"))?.[1]);
}

/** The CPU of the thread running this code, in seconds (/proc/thread-self/stat). */
function threadCpu(): number {
  const fields = Deno.readTextFileSync("/proc/thread-self/stat").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** What `attempt(mode)` of r98_raw.ts cost: the host's and the plugin's CPU, reads, bytes written. */
async function stderrFlood(mode: string) {
  await using plugin = await startPlugin(hostile("r98_raw.ts"), {
    contracts: [Probe],
    isolation: "deno",
    onLog: () => {},
  });
  const api = plugin.api(Probe, { timeout: 30_000 });
  const reads = readCalls();
  const cost = await measure(plugin.pid, () => api.attempt(mode));
  const written = Number(/^flooded: (\d+) bytes$/.exec(cost.value)?.[1]);
  assert.ok(written > 0, cost.value);
  return { cost, written, reads: readCalls() - reads };
}

// Review 95's budget is charged where a line ends, and reading waited only once lines were dropped:
// a line that never ends (or lines of a megabyte) cost nothing against it, and was read as fast as
// it came, to be dropped past 8 KiB: 1.4 GB a second, the host's main thread at 78% (5 times the
// plugin's CPU), for as long as it went on. Now reading waits for the next second past the line
// rate in bytes too (2,000 lines of 8 KiB: 16 MiB): 23 MB a second, 5% of the thread. A count:
// at most 3 seconds of that rate in a flood of 1 s, where it wrote gigabytes.
Deno.test("r98: a stderr line that never ends is read at most 16 MiB a second: the plugin waits", async () => {
  const { cost, written } = await stderrFlood("stderr-endless:1000");
  assert.ok(written <= 3 * 2000 * 8192, `${written} bytes written in 1 s; ${shown(cost)}`);
});

// The same for a byte a write: each came as a read of its own, a read of the host's for each of
// the plugin's writes, about 2.8 million a second (76% of the host's thread). Now at most 2,000
// reads a second (the line rate) take the host's thread; past that reading waits. A count of this
// process's read calls, every thread's: at most 3 seconds of the rate and the suite's own
// (/proc reads, the pipe's wake-ups), where it made millions.
Deno.test("r98: stderr written a byte at a time is read at most 2,000 times a second", async () => {
  const { cost, reads } = await stderrFlood("stderr-drip:1000");
  assert.ok(reads <= 7000, `${reads} read calls in 1 s; ${shown(cost)}`);
});

// A link's way costs as the targets on it are long (review 97), but each name on it is looked up
// by the kernel from the root: a way down a folder 2,000 deep and back ("d/d/.../d/..", 4 KB, 16
// entries) took 170 ms of the host's thread, and a grant's 20,000 entries let 1,170 such links
// through, about 165 s (100 of them: 14 s, measured), the host's thread held all along. The names
// looked up now cost as they are long past 128 bytes, an eighth of a target's byte: such a grant
// is refused after about ten (1.7 s). A verdict, not a time; the thread's CPU is in the message.
Deno.test("r98: links whose way goes down a deep folder cost the check as the names looked up are long", () => {
  const grant = Deno.realPathSync(Deno.makeTempDirSync({ prefix: "plugbox-r98-" }));
  try {
    Deno.mkdirSync(`${grant}/${"d/".repeat(2000)}`, { recursive: true });
    for (let i = 0; i < 30; i++) Deno.symlinkSync(`${"d/".repeat(2000)}..`, `${grant}/l${i}`);
    const grants = { read: [grant], write: [], net: [], env: {} } as unknown as ResolvedGrants;
    const cpu = threadCpu();
    const outcome = (() => {
      try {
        return checkGrantLinks("r98", grants);
      } catch (error) {
        return error;
      }
    })();
    const spent = `${(threadCpu() - cpu).toFixed(2)} s of the thread`;
    assert.ok(outcome instanceof PreflightError, `the grant passed after ${spent}`);
    assert.equal(outcome.reason, "grant-too-large", spent);
  } finally {
    Deno.removeSync(grant, { recursive: true });
  }
});
