// Review 88: a host that starts r86_moves.ts with one read grant and prints what the plugin read,
// or the error's name; run by r88_test.ts as a user other than root (root lists any folder).
import { startPlugin } from "../../mod.ts";
import { hostile } from "./_hostile.ts";
import { Probe } from "./plugins/probe.ts";

const [grant, spec] = Deno.args;
try {
  await using plugin = await startPlugin(hostile("r86_moves.ts"), {
    contracts: [Probe],
    isolation: "deno",
    permissions: { read: [grant] },
  });
  console.log(`read: ${await plugin.api(Probe).attempt(spec)}`);
} catch (error) {
  console.log(`refused: ${(error as Error).name}: ${(error as { reason?: string }).reason}`);
}
