/**
 * The hello plugin: implements {@linkcode Greeter}.
 * @module
 */

import { implement, serve } from "@plugbox/plugbox/plugin";
import { Greeter } from "./contract.ts";

await serve(implement(Greeter, {
  sayHello: (name) => `hello, ${name}`,
  readGreeting: async (path) => (await Deno.readTextFile(path)).split("\n")[0],
}));
