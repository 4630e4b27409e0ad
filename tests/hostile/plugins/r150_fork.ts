// Review 150: a plugin for the lifecycle fuzz. `attempt` takes one word and its arguments:
// "echo" answers at once, "slow <ms>" after a while, "exit <code>" exits at once, "fork <marker>"
// leaves a `sleep <marker>` running (in its group) and one in a session of its own (detached),
// "forkexit <marker>" does so and then exits, "forkio"/"forkioexit" as those with the sleeps
// holding the plugin's own stdin, stdout and stderr, "fetch <url>" answers with what the URL gave.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { R150 } from "./r150_contract.ts";

function fork(marker: string, io: "null" | "inherit" = "null"): void {
  for (const detached of [false, true]) {
    new Deno.Command("/usr/bin/sleep", {
      args: [marker],
      stdin: io,
      stdout: io,
      stderr: io,
      detached,
    }).spawn();
  }
}

function attempt(what: string): Promise<string> | string {
  const [word, arg = ""] = what.split(" ");
  switch (word) {
    case "slow":
      return new Promise((resolve) => setTimeout(() => resolve("slept"), Number(arg)));
    case "exit":
      Deno.exit(Number(arg));
      break;
    case "fetch":
      return fetch(arg).then((response) => response.text());
    case "fork":
      fork(arg);
      return "forked";
    case "forkexit":
      fork(arg);
      Deno.exit(4);
      break;
    case "forkio":
      fork(arg, "inherit");
      return "forked";
    case "forkioexit":
      fork(arg, "inherit");
      Deno.exit(5);
  }
  return "ok";
}

await serve(implement(R150, {
  attempt,
  ticks: async function* ({ signal }) {
    for (let i = 0; !signal.aborted; i++) {
      yield i;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  },
}));
