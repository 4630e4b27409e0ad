/**
 * The summarizer plugin: reads only the folder it is asked about, and only
 * if the host granted it.
 * @module
 */

import { implement, log, serve } from "@plugbox/plugbox/plugin";
import { Summarizer } from "./contract.ts";

const TEXT = /\.(md|txt)$/i;

await serve(implement(Summarizer, {
  summarize: async (folder) => {
    const summaries = [];
    for await (const entry of Deno.readDir(folder)) {
      if (!entry.isFile || !TEXT.test(entry.name)) continue;
      const text = await Deno.readTextFile(`${folder}/${entry.name}`);
      summaries.push({
        file: entry.name,
        lines: text.split("\n").length - (text.endsWith("\n") ? 1 : 0),
        words: text.split(/\s+/).filter(Boolean).length,
        bytes: new TextEncoder().encode(text).length,
        first: (text.split("\n").find((line) => line.trim() !== "") ?? "").slice(0, 120),
      });
    }
    log.info("summarised", { folder, files: summaries.length });
    return summaries.sort((a, b) => a.file.localeCompare(b.file));
  },
}));
