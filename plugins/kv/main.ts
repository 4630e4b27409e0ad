/**
 * The key-value store plugin: one JSON file per key, in the folder named by
 * the KV_DIR variable, the only folder it may read and write.
 * @module
 */

import { implement, serve } from "@plugbox/plugbox/plugin";
import { Kv } from "./contract.ts";

const dir = Deno.env.get("KV_DIR");
if (!dir) throw new Error("KV_DIR is not set: the host must pass the store's folder");
const file = (key: string) => `${dir}/${key}.json`;

await serve(implement(Kv, {
  set: async (key, value) => {
    // Write then rename, so a reader never sees half a value.
    await Deno.writeTextFile(`${file(key)}.tmp`, JSON.stringify(value));
    await Deno.rename(`${file(key)}.tmp`, file(key));
  },
  get: async (key) => {
    try {
      return JSON.parse(await Deno.readTextFile(file(key)));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return null;
      throw error;
    }
  },
  delete: async (key) => {
    try {
      await Deno.remove(file(key));
      return true;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw error;
    }
  },
  keys: async () => {
    const keys: string[] = [];
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && entry.name.endsWith(".json")) keys.push(entry.name.slice(0, -5));
    }
    return keys.sort();
  },
}));
