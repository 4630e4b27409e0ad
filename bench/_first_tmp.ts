import { startPlugin } from "../mod.ts";
import { Greeter } from "../plugins/hello/contract.ts";
const HELLO = new URL("file:///work/wt14/plugins/hello/main.ts");
const name = Deno.args[0] ?? "hello";
const t = async (label: string, opts: Record<string, unknown>) => {
  const t0 = performance.now();
  const p = await startPlugin(HELLO, { contracts: [Greeter], isolation: "deno", ...opts });
  await p.api(Greeter).sayHello("a");
  const ms = performance.now() - t0;
  await p.close();
  console.log(label, ms.toFixed(1));
};
await t("first", { name });
await t("warm", { name });
await t("newname", { name: name + crypto.randomUUID().slice(0, 6) });
await t("warm2", { name });
