/**
 * The two sides the bench compares, behind one shape: plugbox's hello
 * plugin (Deno layer) and the floor. Each side runs in a host process of
 * its own (bench/side.ts), so neither pays for the other's heap, GC or
 * event loop.
 * @module
 */

import { join } from "node:path";
import { type ManagedPlugin, type Plugin, PluginHost, startPlugin } from "../mod.ts";
import { Greeter } from "../plugins/hello/contract.ts";
import { FloorClient } from "./floor_client.ts";

const HELLO = new URL("../plugins/hello/main.ts", import.meta.url);

/** One running plugin of either side. */
export interface Handle {
  call(name: string): Promise<unknown>;
  pid: number;
  close(): Promise<void>;
}

/** How a side starts plugins. */
export interface Subject {
  /** Starts one plugin; `fresh` gives it state no earlier start has warmed (a new name). */
  start(fresh?: boolean): Promise<Handle>;
  /** Starts `n` plugins at once in one host and returns them all ready. */
  startMany(n: number): Promise<{ handles: Handle[]; close(): Promise<void> }>;
}

/** Options every plugbox start in the bench shares. */
export const PLUGBOX_START = { contracts: [Greeter], isolation: "deno" as const };

function plugboxHandle(plugin: Plugin): Handle {
  const greeter = plugin.api(Greeter);
  return {
    call: (name) => greeter.sayHello(name),
    pid: plugin.pid,
    close: async () => void await plugin.close(),
  };
}

/** plugbox: `startPlugin` per plugin, a `PluginHost` for many. */
export function plugboxSubject(): Subject {
  return {
    async start(fresh) {
      const name = fresh ? `hello-${crypto.randomUUID().slice(0, 8)}` : "hello";
      return plugboxHandle(await startPlugin(HELLO, { ...PLUGBOX_START, name }));
    },
    async startMany(n) {
      const began = performance.now();
      const host = new PluginHost({
        handleSignals: false,
        // Why a plugin of the crowd was killed, if one is: on stderr, with when.
        onEvent: (event) => {
          const unexpected = event.type === "exit" ? !event.expected : true;
          if (["unresponsive", "fault", "exit"].includes(event.type) && unexpected) {
            const at = ((performance.now() - began) / 1000).toFixed(1);
            console.error(
              `bench: ${at} s: ${event.plugin}: ${event.type}: ${JSON.stringify(event)}`,
            );
          }
        },
      });
      const names = Array.from({ length: n }, (_, i) => `hello${i}`);
      // Past 256, a root host's plugins at their default share (64 tasks each where pid_max is
      // 32,768, as here) would not fit the machine's budget of tasks (review 164): the bench's
      // plugin holds 6 threads, and asks 16.
      const tasks = n > 256 ? { cpu: { maxTasks: 16 } } : {};
      const settled = await Promise.allSettled(
        names.map((name) =>
          host.start(name, HELLO, {
            ...PLUGBOX_START,
            ...tasks,
            restart: "never",
          })
        ),
      );
      const failed = settled.filter((s) => s.status === "rejected");
      if (failed.length > 0) {
        await host.stopAll();
        const first = (failed[0] as PromiseRejectedResult).reason;
        throw new Error(`${failed.length} of ${n} plugins did not start; the first: ${first}`, {
          cause: first,
        });
      }
      const started = settled.map((s) => (s as PromiseFulfilledResult<ManagedPlugin>).value);
      const handles = started.map((managed) => {
        const greeter = managed.api(Greeter);
        return {
          call: (s: string) => greeter.sayHello(s),
          pid: managed.current?.pid ?? 0,
          close: async () => void await managed.stop(),
        };
      });
      await Promise.all(handles.map((h) => h.call("a")));
      return { handles, close: () => host.stopAll() };
    },
  };
}

/** The floor: a Deno dir per run (so a code cache, as plugins have), a new one for `fresh`. */
export function floorSubject(dir: string): Subject {
  const warm = join(dir, "deno_dir");
  const start = (fresh?: boolean): Handle => {
    const client = new FloorClient(fresh ? join(dir, crypto.randomUUID()) : warm);
    return {
      call: (name) => client.sayHello(name),
      pid: client.child.pid,
      close: () => client.close(),
    };
  };
  return {
    start: (fresh) => Promise.resolve(start(fresh)),
    async startMany(n) {
      const handles = Array.from({ length: n }, () => start());
      await Promise.all(handles.map((h) => h.call("a")));
      return { handles, close: async () => void await Promise.all(handles.map((h) => h.close())) };
    },
  };
}

/** Private memory (clean + dirty, not shared with other processes) of `pid`, in MiB. */
export async function privateMiB(pid: number): Promise<number> {
  // Read asynchronously: a thousand sync reads would stall the host's loop for seconds.
  const text = await Deno.readTextFile(`/proc/${pid}/smaps_rollup`);
  let kib = 0;
  for (const match of text.matchAll(/^Private_(?:Clean|Dirty):\s+(\d+) kB/gm)) {
    kib += Number(match[1]);
  }
  return kib / 1024;
}

/** Open file descriptors and threads of `pid`. */
export function fdsAndThreads(pid: number): { fds: number; threads: number } {
  const fds = [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return { fds, threads: Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? 0) };
}
