// Review 152: an honest Deno plugin's ordinary use of locks, databases and watches in a folder it
// was granted to write. Each attempt says what happened, so a test can check the outcome under
// each layer, with a `run` grant (native code, the stricter filter) or without.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { DatabaseSync } from "node:sqlite";
import { Probe } from "./probe.ts";

async function attempt(what = ""): Promise<string> {
  const [kind, folder] = what.split("|");
  try {
    if (kind === "lock") {
      using file = await Deno.open(`${folder}/r152.lock`, { write: true, create: true });
      await file.lock(true);
      await file.unlock();
      return "lock: held";
    }
    if (kind === "kv") {
      for (let round = 0; round < 2; round++) {
        using kv = await Deno.openKv(`${folder}/r152.kv`);
        await kv.set(["n"], round);
      }
      using kv = await Deno.openKv(`${folder}/r152.kv`);
      return `kv: ${(await kv.get(["n"])).value}`;
    }
    if (kind.startsWith("sqlite-")) {
      const mode = kind.slice("sqlite-".length);
      let count = 0;
      for (let round = 0; round < 2; round++) {
        const db = new DatabaseSync(`${folder}/r152-${mode}.db`);
        db.exec(
          `PRAGMA journal_mode=${mode}; CREATE TABLE IF NOT EXISTS t (x); INSERT INTO t VALUES (1)`,
        );
        count = Number((db.prepare("SELECT count(*) AS n FROM t").get() as { n: number }).n);
        db.close();
      }
      return `sqlite: ${mode}, ${count} rows`;
    }
    if (kind === "import") { // a module of the granted folder: Deno's caches analyse and keep its code
      await Deno.writeTextFile(`${folder}/r152-module.js`, "export const n = 42;");
      const module = await import(`file://${folder}/r152-module.js`);
      return `import: ${module.n}`;
    }
    if (kind === "watch") {
      using watcher = Deno.watchFs(folder);
      const seen = (async () => {
        for await (const event of watcher) {
          if (event.kind === "create") return "watch: saw a create";
        }
        return "watch: ended";
      })();
      await Deno.writeTextFile(`${folder}/r152-watched.txt`, "x");
      return await seen;
    }
    if (kind === "run" || kind === "sh") { // sh: the line after the folder, run by the granted sh
      const line = kind === "run" ? "echo $((6*7))" : what.split("|").slice(2).join("|");
      const out = await new Deno.Command("/usr/bin/sh", { args: ["-c", line] }).output();
      return `${kind}: ${new TextDecoder().decode(out.stdout).trim()}${
        new TextDecoder().decode(out.stderr).trim()
      }`;
    }
    return `unknown attempt ${what}`;
  } catch (error) {
    return `failed: ${(error as Error).name}: ${(error as Error).message}`;
  }
}

await serve(implement(Probe, { attempt }));
