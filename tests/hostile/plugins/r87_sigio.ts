// Review 87: run under the Landlock layer's seccomp filter for a kernel
// before Landlock ABI 6 (signals only to itself), without Landlock's own
// scoping: asks the kernel to send SIGIO, whose default action ends a
// process, to another process, by making it the owner of a socket.
// Arguments: the C library, the target's pid, and how ("fcntl" or "ioctl").
const [libcPath, target, how] = Deno.args;
const libc = Deno.dlopen(libcPath, {
  socketpair: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  __errno_location: { parameters: [], result: "pointer" },
  memcpy: { parameters: ["buffer", "pointer", "usize"], result: "pointer" },
});
const c = libc.symbols;
const errno = () => {
  const out = new Int32Array(1);
  c.memcpy(new Uint8Array(out.buffer), c.__errno_location(), 4n);
  return out[0];
};
const F_SETOWN = 8, F_SETFL = 4, O_ASYNC = 0o20000, FIOSETOWN = 0x8901n;

function attempt(): string {
  const pair = new Int32Array(2);
  if (c.socketpair(1, 1, 0, new Uint8Array(pair.buffer)) < 0) return `pair: errno ${errno()}`;
  const owned = how === "ioctl"
    ? c.ioctl(pair[0], FIOSETOWN, new Uint8Array(new Int32Array([Number(target)]).buffer))
    : c.fcntl(pair[0], F_SETOWN, Number(target));
  if (owned < 0) return `owner: errno ${errno()}`;
  if (c.fcntl(pair[0], F_SETFL, O_ASYNC) < 0) return `async: errno ${errno()}`;
  c.write(pair[1], new Uint8Array([1]), 1n);
  return "sent";
}

console.log(attempt());
