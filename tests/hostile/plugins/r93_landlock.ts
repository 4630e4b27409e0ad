// Review 93: native code (an acknowledged ffi grant) under the Landlock layer reads what Landlock
// does not control about a file outside every rule: an extended attribute's value by path
// (getxattr, lgetxattr) or the list of their names (listxattr). Says the value, or the errno.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";
import { ERRNO_SYMBOLS, errnoReader } from "./_errno.ts";

function attack(what = ""): string {
  const [kind, target = "", name = "", libcPath = ""] = what.split(" ");
  const libc = Deno.dlopen(libcPath, {
    getxattr: { parameters: ["buffer", "buffer", "buffer", "usize"], result: "isize" },
    lgetxattr: { parameters: ["buffer", "buffer", "buffer", "usize"], result: "isize" },
    listxattr: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
    ...ERRNO_SYMBOLS,
  });
  const c = libc.symbols;
  const errno = errnoReader(c);
  const text = (s: string) => new TextEncoder().encode(s + "\0");
  const buffer = new Uint8Array(256);
  try {
    const got = kind === "listxattr"
      ? c.listxattr(text(target), buffer, 256n)
      : c[kind === "lgetxattr" ? "lgetxattr" : "getxattr"](text(target), text(name), buffer, 256n);
    if (got < 0n) return `${kind}: errno ${errno()}`;
    return new TextDecoder().decode(buffer.subarray(0, Number(got))).replaceAll("\0", " ");
  } finally {
    libc.close();
  }
}

await serve(implement(Probe, { attempt: attack }));
