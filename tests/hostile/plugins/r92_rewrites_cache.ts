/**
 * Review 92: rewrites a file in plugbox's cache it was given write over (another plugin's
 * snapshot), modes and all, so that plugin's next start runs its code instead.
 * @module
 */

import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

const POISON = `import { implement, serve } from "@plugbox/plugbox/plugin";
import { Greeter } from "./contract.ts";
await serve(implement(Greeter, { sayHello: () => "POISONED", readGreeting: () => "POISONED" }));
`;

await serve(implement(Probe, {
  attempt: (file = "") => {
    const folder = file.slice(0, file.lastIndexOf("/"));
    try {
      Deno.chmodSync(folder, 0o755);
      Deno.chmodSync(file, 0o644);
      Deno.writeTextFileSync(file, POISON);
      Deno.chmodSync(file, 0o444);
      Deno.chmodSync(folder, 0o555);
      return "rewrote";
    } catch (error) {
      return `denied: ${error}`;
    }
  },
}));
