// A host for review 137, run where `alias` is `code` mounted a second time (bwrap --bind): grants
// spelled through the alias, of plugbox's cache, of a started plugin's folder, and of a folder
// another start was given to write. Prints one JSON
// object: for each case, "granted" or the refusal's message.
import { join } from "node:path";
import { previewStart, startPlugin } from "../../mod.ts";
import { Greeter } from "../../plugins/hello/contract.ts";

const { code, alias, other } = JSON.parse(Deno.args[0]) as Record<string, string>;
const cacheDir = join(code, "cache", "plugbox");
const base = { cacheDir, isolation: "deno" as const, manifest: "ignore" as const };
const unsafe = { writeAsRoot: true };

async function outcome(start: () => Promise<unknown>): Promise<string> {
  try {
    const started = await start();
    await (started as Partial<AsyncDisposable>)[Symbol.asyncDispose]?.();
    return "granted";
  } catch (error) {
    return (error as Error).message;
  }
}

const preview = (permissions: Record<string, string[]>) => () =>
  previewStart(join(other, "main.ts"), { ...base, permissions, unsafe });

const results: Record<string, string> = {
  writeCache: await outcome(preview({ write: [join(alias, "cache")] })),
  readKey: await outcome(preview({ read: [join(alias, "cache")] })),
};
await using _b = await startPlugin(join(code, "projects", "b", "main.ts"), {
  ...base,
  contracts: [Greeter],
});
results.writeOthersFolder = await outcome(() =>
  startPlugin(join(other, "main.ts"), {
    ...base,
    contracts: [Greeter],
    permissions: { write: [join(alias, "projects")] },
    unsafe,
  })
);
// A plugin given `shared` to write, through the alias; then grants inside it and through a link in
// it, spelled without the alias: the folder it may swap for a link, the link it may re-point.
await using _c = await startPlugin(join(other, "main.ts"), {
  ...base,
  name: "c",
  contracts: [Greeter],
  permissions: { write: [join(alias, "shared")] },
  unsafe,
});
// What such a plugin may do once started (a command plugin's, or one with a run grant): a link.
await Deno.symlink(join(code, "else"), join(code, "shared", "link"));
results.readInsideWrite = await outcome(preview({ read: [join(code, "shared", "sub")] }));
results.readThroughLink = await outcome(preview({ read: [join(code, "shared", "link")] }));
console.log(JSON.stringify(results));
