// Review 121: native code (an acknowledged ffi grant) reads a file's metadata and a link's
// target by path, which Landlock does not control, outside every rule; the file's contents stay
// refused. Each step says what it got or the errno.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";
import { ERRNO_SYMBOLS, errnoReader } from "./_errno.ts";

const NEWFSTATAT = Deno.build.arch === "aarch64" ? 79 : 262;
const AT_FDCWD = -100;
const ST_SIZE = 48; // struct stat's st_size, on x86_64 and aarch64 alike

function attack(what = ""): string {
  const [dir, libcPath] = what.split(" ");
  const libc = Deno.dlopen(libcPath, {
    readlink: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
    syscall: { parameters: ["i64", "i64", "buffer", "buffer", "i64"], result: "i64" },
    open: { parameters: ["buffer", "i32", "i32"], result: "i32" },
    close: { parameters: ["i32"], result: "i32" },
    ...ERRNO_SYMBOLS,
  });
  const c = libc.symbols;
  const errno = errnoReader(c);
  const text = (s: string) => new TextEncoder().encode(s + "\0");
  const buffer = new Uint8Array(256);
  const length = Number(c.readlink(text(`${dir}/link`), buffer, 256n));
  const link = length < 0
    ? `errno ${errno()}`
    : new TextDecoder().decode(buffer.subarray(0, length));
  const stat = new Uint8Array(256);
  const done = Number(
    c.syscall(BigInt(NEWFSTATAT), BigInt(AT_FDCWD), text(`${dir}/secret.txt`), stat, 0n),
  );
  const size = done < 0
    ? `errno ${errno()}`
    : String(new DataView(stat.buffer).getBigInt64(ST_SIZE, true));
  const fd = c.open(text(`${dir}/secret.txt`), 0, 0); // O_RDONLY
  const open = fd < 0 ? `errno ${errno()}` : "ok";
  if (fd >= 0) c.close(fd);
  return JSON.stringify({ link, size, open });
}

await serve(implement(Probe, { attempt: attack }));
