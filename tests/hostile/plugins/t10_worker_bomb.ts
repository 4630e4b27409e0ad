// T10: each Worker has its own heap: spread 1.5 GiB of allocations over eight of them.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

const WORKER = `
  const hoard = [];
  try {
    while (hoard.length < 3) hoard.push(new Uint8Array(64 * 1024 * 1024).fill(1));
    postMessage(hoard.length * 64);
  } catch {
    postMessage(hoard.length * 64);
  }
`;

function attack(): Promise<string> {
  const workers = Array.from({ length: 8 }, () =>
    new Promise<number>((resolve) => {
      const worker = new Worker(`data:text/javascript,${encodeURIComponent(WORKER)}`, {
        type: "module",
      });
      worker.onmessage = (event) => resolve(event.data as number);
      worker.onerror = (event) => {
        event.preventDefault();
        resolve(0);
      };
    }));
  return Promise.all(workers).then((sizes) =>
    `workers allocated ${sizes.reduce((a, b) => a + b, 0)} MiB`
  );
}

if (!Deno.args.some((a) => a.startsWith("--plugbox-nonce="))) {
  console.error(await attack());
  Deno.exit(0);
} else {
  await serve(implement(Probe, { attempt: attack }));
}
