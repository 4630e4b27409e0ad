// T11: smuggles terminal escape sequences through an error message and name.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

class Sneaky extends Error {
  override name = "Sneaky\x1b[31m";
}

await serve(implement(Probe, {
  attempt: () => {
    throw new Sneaky("\x1b[2J\x1b]0;pwned\x07screen cleared");
  },
}));
