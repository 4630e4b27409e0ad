// Review 155: a plugin for the fuzz of names removed and reused. `attempt` takes one word and its
// argument: "echo" answers at once, "slow <ms>" after a while, "exit <code>" exits at once, "say
// <text>" writes the text to stderr and answers. `fetch` asks the host's fetch capability for a
// URL and answers with the body, or with the error's name and message.
import { HostError, implement, serve } from "@plugbox/plugbox/plugin";
import { R155 } from "./r155_contract.ts";

await serve(implement(R155, {
  attempt: (what) => {
    const [word, arg = ""] = what.split(" ");
    switch (word) {
      case "slow":
        return new Promise((resolve) => setTimeout(() => resolve("slept"), Number(arg)));
      case "exit":
        Deno.exit(Number(arg));
        break;
      case "say":
        console.error(arg);
        return "said";
    }
    return "ok";
  },
  fetch: async (url, { host }) => {
    try {
      return (await host.fetch({ url })).body;
    } catch (error) {
      if (!(error instanceof HostError)) throw error;
      return `${error.remoteName}: ${error.message}`;
    }
  },
}));
