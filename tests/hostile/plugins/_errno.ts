/**
 * The C library's `errno`, for the hostile plugins that call it through
 * FFI: the two symbols to add to a `Deno.dlopen` of libc, and a reader of
 * the value. Read through `memcpy`: `UnsafePointerView` needs an ffi grant
 * for every library, and these plugins are granted libc alone.
 * @module
 */

/** The symbols {@linkcode errnoReader} needs, to spread into a libc `dlopen`. */
export const ERRNO_SYMBOLS = {
  __errno_location: { parameters: [], result: "pointer" },
  memcpy: { parameters: ["buffer", "pointer", "usize"], result: "pointer" },
} as const;

/** What {@linkcode errnoReader} calls, as `dlopen` types them. */
export interface ErrnoSymbols {
  __errno_location(): Deno.PointerValue;
  memcpy(to: BufferSource, from: Deno.PointerValue, size: bigint): Deno.PointerValue;
}

/**
 * A function that reads this thread's `errno` now.
 *
 * @example
 * ```ts ignore
 * const libc = Deno.dlopen("libc.so.6", { ...ERRNO_SYMBOLS, close: { parameters: ["i32"], result: "i32" } });
 * const errno = errnoReader(libc.symbols);
 * if (libc.symbols.close(-1) < 0) console.log(errno()); // 9, EBADF
 * ```
 */
export function errnoReader(c: ErrnoSymbols): () => number {
  return () => {
    const out = new Int32Array(1);
    c.memcpy(new Uint8Array(out.buffer), c.__errno_location(), 4n);
    return out[0];
  };
}
