/**
 * Review 122's host, run by tests/hostile/r122_test.ts under a low RLIMIT_NOFILE (`prlimit`):
 * starts lifecycle.ts under names p0, p1, … until a start fails (at most `max`), then prints one
 * JSON line: how many started, what the failure said, its child processes then, and whether a
 * start after two stops works; and its child processes once it stopped them all.
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
for (; started < max; started++) {
  try {
    await host.start(`p${started}`, module, options);
  } catch (error) {
    failure = String(error);
    break;
  }
}
const childrenAtFailure = childrenOf(Deno.pid).length;
const failedState = failure ? host.get(`p${started}`).state : "";
let again = "";
if (started > 0 && failure) {
  await host.stop("p0");
  await host.stop(`p${started}`);
  try {
    const plugin = await host.start("again", module, options);
    again = `answered ${await plugin.api(Life).echo(7)}`;
  } catch (error) {
    again = String(error);
  }
}
await host[Symbol.asyncDispose]();
console.log(JSON.stringify({
  started,
  failure,
  failedState,
  childrenAtFailure,
  again,
  childrenAtEnd: childrenOf(Deno.pid).length,
}));
