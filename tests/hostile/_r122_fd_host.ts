/**
 * Review 122's host, run by tests/hostile/r122_test.ts under a low RLIMIT_NOFILE (`prlimit`):
 * starts lifecycle.ts under names p0, p1, … until a start fails (at most `max`), then prints one
 * JSON line: how many started, what the failure said, its child processes and open descriptors
 * then (against before the failed start), how many stops it took for a start to work again, and
 * whether it did; and its child processes once it stopped them all.
 * Arguments: isolation, max.
 * @module
 */
import { PluginHost } from "../../mod.ts";
import { Life } from "../fixtures/contracts.ts";
import { childrenOf } from "./_hostile.ts";

const isolation = (Deno.args[0] ?? "deno") as "deno";
const max = Number(Deno.args[1] ?? 60);
const host = new PluginHost({ handleSignals: false });
const module = new URL("../fixtures/lifecycle.ts", import.meta.url);
const options = { contracts: [Life], isolation, stopGraceMs: 200, stopTermMs: 200 };
let started = 0;
let failure = "";
let fdsBeforeFailure = -1;
// Counted with the directory's own descriptor open, before and after alike. Sockets are left out:
// Deno's runtime opens a pair of its own once, lazily, at a time no start controls; what a start
// holds (pipes, a pidfd, files) is counted.
const openDescriptors = () =>
  [...Deno.readDirSync("/proc/self/fd")].filter(({ name }) => {
    try {
      return !Deno.readLinkSync(`/proc/self/fd/${name}`).startsWith("socket:");
    } catch {
      return true;
    }
  }).length;
for (; started < max; started++) {
  try {
    fdsBeforeFailure = openDescriptors();
    await host.start(`p${started}`, module, options);
  } catch (error) {
    failure = String(error);
    break;
  }
}
const childrenAtFailure = childrenOf(Deno.pid).length;
const fdsAfterFailure = openDescriptors();
const failedState = failure ? host.get(`p${started}`).state : "";
let again = "";
let stops = 0;
if (started > 0 && failure) {
  await host.stop(`p${started}`);
  // How many plugins must stop before a start fits depends on how the limit falls against a
  // start's passing need (the spawn's pipes), which varies with what the host inherited: stop one
  // at a time until a start works, or none is left.
  while (stops < started && !again.startsWith("answered")) {
    await host.stop(`p${stops++}`);
    try {
      const plugin = await host.start("again", module, options);
      again = `answered ${await plugin.api(Life).echo(7)}`;
    } catch (error) {
      again = String(error);
      await host.stop("again");
    }
  }
}
await host[Symbol.asyncDispose]();
console.log(JSON.stringify({
  started,
  failure,
  failedState,
  childrenAtFailure,
  fdsBeforeFailure,
  fdsAfterFailure,
  stops,
  again,
  childrenAtEnd: childrenOf(Deno.pid).length,
}));
