/**
 * Review 164's host of hoarding plugins, run by tests/hostile/r164_test.ts as a process of its own
 * inside a pids cgroup the test made (so its plugins' budget is half of that cgroup's limit, apart
 * from every other host's on the machine). Arguments: `<python> <deno> <maxTasks|share> <fresh>
 * <hold>`: that many Python plugins (OS layer) and Deno plugins granted nothing (Deno layer, a
 * large memory cap, so that its tasks, not its memory, stop it) each make threads until one more
 * is refused, and hold them; with `fresh` = "fresh", an honest Deno plugin is then started under
 * each of the Deno and OS layers and called; then this host starts a process and a Worker. Prints
 * one JSON line; with `hold` = "hold" it keeps its plugins until its stdin ends.
 * @module
 */
import { startPlugin } from "../../mod.ts";
import { Probe } from "./plugins/probe.ts";
import { hostile } from "./_hostile.ts";

const [python, deno, maxTasks, fresh, hold] = Deno.args;
const cpu = maxTasks === "share" ? {} : { maxTasks: Number(maxTasks) };
const messageOf = (error: unknown) => error instanceof Error ? error.message : String(error);
const hoarders = await Promise.all([
  ...Array.from(
    { length: Number(python) },
    () => startPlugin(hostile("py_probe/main.py"), { contracts: [Probe], isolation: "os", cpu }),
  ),
  ...Array.from({ length: Number(deno) }, () =>
    startPlugin(hostile("r164_threads.ts"), {
      contracts: [Probe],
      isolation: "deno",
      memoryLimitMiB: 16384,
      cpu,
    })),
]);
const out: Record<string, unknown> = {};
try {
  out.hoarders = await Promise.all(hoarders.map(async (plugin, i) => {
    const dir = plugin.plan.cpu.cgroup?.pidsDir;
    if (!dir) throw new Error("no pids cgroup");
    const read = (file: string) => {
      try {
        return Number(Deno.readTextFileSync(`${dir}/${file}`).trim());
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) return 0; // it ended, and its cgroup is gone
        throw error;
      }
    };
    const cap = read("pids.max");
    // A Deno plugin refused a thread inside a Worker's start may end itself ("Deno could not
    // start: unable to create worker threads"): its own loss, said as it is.
    const said = await plugin.api(Probe).attempt(i < Number(python) ? "tasks:8192" : "workers:8192")
      .catch(messageOf);
    return { said, cap, held: read("pids.current") };
  }));
  if (fresh === "fresh") {
    out.fresh = {};
    for (const isolation of ["deno", "os"] as const) {
      try {
        await using plugin = await startPlugin(hostile("r164_threads.ts"), {
          contracts: [Probe],
          isolation,
        });
        (out.fresh as Record<string, string>)[isolation] = await plugin.api(Probe).attempt("hello");
      } catch (error) {
        (out.fresh as Record<string, string>)[isolation] = messageOf(error);
      }
    }
  }
  try {
    out.spawned = (await new Deno.Command("true").output()).success ? "yes" : "failed";
  } catch (error) {
    out.spawned = messageOf(error);
  }
  try {
    const worker = new Worker("data:text/javascript,postMessage(0)", { type: "module" });
    await new Promise((resolve, reject) => {
      worker.onmessage = resolve;
      worker.onerror = (event) => {
        event.preventDefault();
        reject(new Error(event.message));
      };
    });
    worker.terminate();
    out.worker = "yes";
  } catch (error) {
    out.worker = messageOf(error);
  }
  console.log(JSON.stringify(out));
  if (hold === "hold") { for await (const _ of Deno.stdin.readable) { /* until it ends */ } }
} finally {
  await Promise.all(hoarders.map((plugin) => plugin.close()));
}
