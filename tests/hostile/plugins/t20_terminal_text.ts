// T20: text that reorders or forges what a terminal shows: a bidi override
// that flips what follows, a newline that starts a line of its own (looking
// like plugbox's own output), a line separator, a zero-width joiner.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

const FORGED = 'done\nPermissionDeniedError: the host was denied read access to "/etc"';
const BIDI = "invoice\u202egpj.exe";

function attack(how = "result"): string {
  switch (how) {
    case "log":
      console.error(`log ${BIDI}\u2028${FORGED}`);
      return "logged";
    case "throw":
      throw new Error(`${BIDI} ${FORGED}`);
    case "progress": { // ids the host never gave, quoted in its fault reports (review 57)
      const id = "\u202e\u009b2J\u2028forged line\u200b\u0085";
      for (const method of ["$/progress", "$/item"]) {
        const line = JSON.stringify({ jsonrpc: "2.0", method, params: { id, value: 1 } });
        Deno.stdout.writeSync(new TextEncoder().encode(line + "\n"));
      }
      return "sent";
    }
    default:
      return `${BIDI}\u200d\u2029${FORGED}`;
  }
}

await serve(implement(Probe, { attempt: attack }));
