// Review 87: a Deno plugin with an acknowledged run grant and a net grant
// under the Landlock layer runs a program (curl) that connects on its own,
// past the egress proxy, to another address at the proxy's port number.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

async function fetchPastProxy(what = ""): Promise<string> {
  const [url, curl] = what.split(" ");
  const out = await new Deno.Command(curl, {
    args: ["-sS", "--noproxy", "*", "--max-time", "5", url],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.code === 0 ? out.stdout : out.stderr);
  return `${out.code}: ${text.trim()}`;
}

await serve(implement(Probe, { attempt: fetchPastProxy }));
