/**
 * Run as its own process (the host's tools are found once a process): a first start with
 * `Deno.args[0]` first on PATH, whose `sh` the host then keeps running, then the PATH set back and
 * a write grant asked over that folder. Prints the second start's refusal, or "granted".
 * @module
 */

import { previewStart } from "../../mod.ts";
import { hostile } from "./_hostile.ts";

const [tools, cacheDir] = Deno.args;
const path = Deno.env.get("PATH")!;
Deno.env.set("PATH", `${tools}:${path}`);
await previewStart(hostile("r110_plants_program.ts"), { cacheDir });
Deno.env.set("PATH", path);
const second = await previewStart(hostile("r110_plants_program.ts"), {
  cacheDir,
  permissions: { write: [tools] },
  unsafe: { writeAsRoot: true },
}).then(() => "granted", (error: Error) => error.message);
console.log(second);
