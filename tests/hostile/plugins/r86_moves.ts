// Reviews 86 and 93: given folders to write that hold links it could not have made (Deno refuses
// it one), each leading inside the grants now, it runs a list of moves, removals, folder makings and
// mode changes, then reads. The spec is "op arg [arg]" steps joined by "|": "mv from to", "rm path",
// "mkdir path", "chmod path mode" (octal), "read path" (the last step's text is the answer).
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

function step(line: string): string {
  const [op, a, b] = line.split(" ");
  if (op === "mv") Deno.renameSync(a, b);
  else if (op === "rm") Deno.removeSync(a, { recursive: true });
  else if (op === "mkdir") Deno.mkdirSync(a, { recursive: true });
  else if (op === "chmod") Deno.chmodSync(a, parseInt(b, 8));
  else if (op === "read") return Deno.readTextFileSync(a).split("\n")[0];
  else throw new Error(`unknown step "${op}"`);
  return "";
}

function attempt(spec = ""): string {
  let last = "";
  for (const line of spec.split("|")) {
    try {
      last = step(line);
    } catch (error) {
      return `refused at "${line}": ${(error as Error).name}: ${(error as Error).message}`;
    }
  }
  return last;
}

await serve(implement(Probe, { attempt }));
