// T4: serves the computed npm: import attack (see t4_npm_attack.ts).
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";
import { attack } from "./t4_npm_attack.ts";

await serve(implement(Probe, { attempt: attack }));
