/**
 * Reads another process's memory through /proc (the tests run as root): to
 * prove a value never reached a plugin, and to measure its resident set.
 * @module
 */

/** The process and its descendants, by pid. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry.name)]);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (pid: number) => {
    out.push(pid);
    for (const child of children.get(pid) ?? []) walk(child);
  };
  walk(root);
  return out;
}

/** Resident set size of `pid`, in bytes (VmRSS). */
export function rssBytes(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kib = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  if (kib === undefined) throw new Error(`no VmRSS for ${pid}`);
  return Number(kib) * 1024;
}

function indexOfBytes(haystack: Uint8Array, needle: Uint8Array): number {
  const first = needle[0];
  for (let i = haystack.indexOf(first); i !== -1; i = haystack.indexOf(first, i + 1)) {
    if (i + needle.length > haystack.length) return -1;
    let j = 1;
    while (j < needle.length && haystack[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
  }
  return -1;
}

/**
 * Whether `text` is anywhere in the readable memory of `pid`, as one-byte
 * (Latin-1 / UTF-8) or two-byte (UTF-16) characters, V8's two string forms.
 * Returns the bytes scanned too, so a test can check it scanned something.
 */
export function memoryHolds(pid: number, text: string): { found: boolean; scanned: number } {
  const forms = [
    new TextEncoder().encode(text),
    new Uint8Array(new Uint16Array([...text].map((c) => c.charCodeAt(0))).buffer),
  ];
  const maps = Deno.readTextFileSync(`/proc/${pid}/maps`).split("\n");
  const mem = Deno.openSync(`/proc/${pid}/mem`, { read: true });
  let scanned = 0;
  try {
    for (const line of maps) {
      const m = /^([0-9a-f]+)-([0-9a-f]+) r/.exec(line);
      if (!m || line.includes("[vvar") || line.includes("[vsyscall")) continue;
      const start = parseInt(m[1], 16);
      const end = parseInt(m[2], 16);
      for (let at = start; at < end; at += 1 << 24) {
        const size = Math.min(1 << 24, end - at) + 64;
        const buffer = new Uint8Array(Math.min(size, end - at));
        try {
          mem.seekSync(at, Deno.SeekMode.Start);
          const read = mem.readSync(buffer) ?? 0;
          scanned += read;
          const view = buffer.subarray(0, read);
          if (forms.some((form) => indexOfBytes(view, form) !== -1)) {
            return { found: true, scanned };
          }
        } catch {
          // an unreadable region (guard pages)
        }
      }
    }
  } finally {
    mem.close();
  }
  return { found: false, scanned };
}
