/**
 * Review 170's host, run by tests/hostile/r170_test.ts as a process of its own inside a pids
 * cgroup the test made. `start <plugin> <isolation> <maxTasks>`: prints "go", then starts the
 * plugin (managed, granted net, so that its relay runs), prints "up" once it runs, and keeps it
 * until it is SIGKILLed.
 * `fresh <plugin> <isolation> <maxTasks>`: a later host: starts the plugin, calls it, stops it,
 * and prints what came of it.
 * @module
 */
import { PluginHost } from "../../mod.ts";
import { Bare } from "../fixtures/contracts.ts";
import { type Check, checkHere, interleavings } from "./_r170_fuzz.ts";

const [mode, plugin, isolation, maxTasks] = Deno.args;
if (mode === "fuzz" || mode === "narrow-fuzz") {
  // `fuzz <seed> <rounds> <isolation> <maxTasks>`: the interleavings, one lane; what they came to.
  // `narrow-fuzz`: the same in a host Deno lets read neither /proc nor cgroupfs: after each, it
  // prints what to check (JSON) and waits for the test's "ok".
  const [, seed, rounds, layer, tasks] = Deno.args;
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  const asked: Check = async (name, marker, said) => {
    console.log(JSON.stringify({ name, marker, said }));
    while (!pending.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) throw new Error("the test went away");
      pending += value;
    }
    const answer = pending.slice(0, pending.indexOf("\n"));
    pending = pending.slice(answer.length + 1);
    if (answer !== "ok") throw new Error(answer);
  };
  const variant = { isolation: layer as "os", net: layer === "os", hotStandby: true };
  const counts = await interleavings(
    { ...variant, maxTasks: Number(tasks) },
    1,
    Number(seed),
    Number(rounds),
    mode === "fuzz" ? checkHere : asked,
  );
  console.log(JSON.stringify(counts));
  Deno.exit(0);
}
const options = {
  contracts: [Bare],
  isolation: isolation as "os" | "landlock" | "deno",
  healthIntervalMs: 0,
  cpu: { maxTasks: Number(maxTasks) },
  permissions: { net: ["127.0.0.1:9"] },
  unsafe: { privateNetwork: true },
};
const host = new PluginHost({ handleSignals: false });
if (mode === "start") {
  console.log("go");
  await host.start("r170", plugin, options).then(() => console.log("up"), () => {});
  setInterval(() => {}, 60_000);
} else {
  try {
    const managed = await host.start("r170", plugin, options);
    console.log(`answered ${await managed.api(Bare).echo(7)}`);
  } catch (error) {
    console.log(`failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  await host[Symbol.asyncDispose]();
}
