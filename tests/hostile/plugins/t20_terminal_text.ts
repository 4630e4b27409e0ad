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
    default:
      return `${BIDI}\u200d\u2029${FORGED}`;
  }
}

await serve(implement(Probe, { attempt: attack }));
