/**
 * `deno task example:python`: the Python plugin, typed by the TypeScript
 * greeter contract; a stream of greetings whose titles the plugin asks of
 * the host; then its read of a file it was not granted, which does not
 * exist for it under the OS layer.
 * @module
 */

import { PluginError, provide, startPlugin } from "@plugbox/plugbox";
import { Greeter } from "../hello/contract.ts";
import { Greetings } from "./contract.ts";

await using plugin = await startPlugin(new URL("./main.py", import.meta.url), {
  contracts: [Greeter, Greetings],
  capabilities: [provide(Greetings, { title: (name) => `Dr. ${name}` })],
});
const greeter = plugin.api(Greeter);
console.log(await greeter.sayHello("a"));
for await (const line of plugin.api(Greetings).greetAll(["b", "c", "d"])) {
  console.log(line);
  if (line.endsWith("c")) break; // the plugin's stream is cancelled
}
try {
  await greeter.readGreeting("/etc/hostname");
  console.log("unexpected: the plugin read /etc/hostname");
  Deno.exitCode = 1;
} catch (error) {
  if (!(error instanceof PluginError)) throw error;
  console.log(`not there for the plugin: ${error.remoteName}: ${error.message}`);
}
console.log(`(isolation: ${plugin.isolation}, ${plugin.plan.kind} plugin)`);
