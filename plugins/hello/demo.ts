/**
 * `deno task demo`: start the hello plugin with no permissions, call it,
 * then show its attempt to read a file it was not granted being denied.
 * @module
 */

import { PermissionDeniedError, startPlugin } from "@plugbox/plugbox";
import { Greeter } from "./contract.ts";

await using plugin = await startPlugin(new URL("./main.ts", import.meta.url), {
  contracts: [Greeter],
  permissions: {},
});
const greeter = plugin.api(Greeter);
console.log(await greeter.sayHello("a"));

const secret = "/etc/hostname";
try {
  await greeter.readGreeting(secret);
  console.log(`unexpected: the plugin read ${secret}`);
  Deno.exitCode = 1;
} catch (error) {
  if (!(error instanceof PermissionDeniedError)) throw error;
  console.log(
    `denied: the plugin tried to read "${error.target}" without the "${error.permission}" permission`,
  );
  console.log(`  ${error.name}: ${error.message}`);
}
console.log(`(isolation: ${plugin.isolation})`);
