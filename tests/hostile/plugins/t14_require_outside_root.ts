// T14: a literal require() reads a file outside the folder with no permission;
// `deno info` lists it, so the graph check sees it.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
console.error(`LEAK: ${JSON.stringify(require("/tmp/plugbox-hostile/secret.json"))}`);
