/**
 * What in an ELF file would make the dynamic loader run its code while
 * `ldd` only lists its libraries: an audit module the file names
 * (`DT_AUDIT`, `DT_DEPAUDIT`), which the loader loads and calls even in
 * tracing mode. plugbox runs `ldd` as the host, so it reads the file's
 * dynamic section itself first (review 29), without running anything.
 * @module
 */

const DT_NULL = 0n;
const DT_DEPAUDIT = 0x6ffffefbn;
const DT_AUDIT = 0x6ffffefcn;
const PT_DYNAMIC = 2;
/** More than any real dynamic section (a few hundred entries): a bound on what is read. */
const MAX_DYNAMIC_BYTES = 1024 * 1024;

/** Reads `length` bytes at `offset` (fewer at the end of the file). */
function readAt(file: Deno.FsFile, offset: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  file.seekSync(offset, Deno.SeekMode.Start);
  let got = 0;
  while (got < length) {
    const n = file.readSync(bytes.subarray(got));
    if (n === null || n === 0) break;
    got += n;
  }
  return bytes.subarray(0, got);
}

/**
 * Why `ldd` must not be run on `path`, or undefined when it may: an ELF
 * file naming an audit module, or one plugbox cannot read as ELF (a class or
 * byte order it does not know, a truncated header). A file that is not ELF
 * at all (a script) is fine: the loader will not map it.
 *
 * @example
 * ```ts ignore
 * elfRunsCodeUnderLdd("/usr/bin/git"); // undefined
 * elfRunsCodeUnderLdd("/opt/vendor/libevil.so"); // "it names an audit module (DT_AUDIT)"
 * ```
 */
export function elfRunsCodeUnderLdd(path: string): string | undefined {
  using file = Deno.openSync(path, { read: true });
  const head = readAt(file, 0, 64);
  if (
    head.length < 4 || head[0] !== 0x7f || head[1] !== 0x45 || head[2] !== 0x4c || head[3] !== 0x46
  ) {
    return undefined; // not ELF
  }
  const wide = head[4] === 2; // ELFCLASS64
  if ((head[4] !== 1 && !wide) || head[5] !== 1 || head.length < (wide ? 64 : 52)) {
    return "it is an ELF file plugbox cannot read (not little-endian 32 or 64 bit)";
  }
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const phoff = wide ? Number(view.getBigUint64(32, true)) : view.getUint32(28, true);
  const phentsize = view.getUint16(wide ? 54 : 42, true);
  const phnum = view.getUint16(wide ? 56 : 44, true);
  if (phentsize < (wide ? 56 : 32) || phnum > 4096) {
    return "its ELF program headers cannot be read";
  }
  const headers = readAt(file, phoff, phentsize * phnum);
  const ph = new DataView(headers.buffer, headers.byteOffset, headers.byteLength);
  for (let i = 0; i + phentsize <= headers.length; i += phentsize) {
    if (ph.getUint32(i, true) !== PT_DYNAMIC) continue;
    const offset = wide ? Number(ph.getBigUint64(i + 8, true)) : ph.getUint32(i + 4, true);
    const size = wide ? Number(ph.getBigUint64(i + 32, true)) : ph.getUint32(i + 16, true);
    if (size > MAX_DYNAMIC_BYTES) return "its ELF dynamic section is too large to read";
    const dynamic = readAt(file, offset, size);
    const dv = new DataView(dynamic.buffer, dynamic.byteOffset, dynamic.byteLength);
    const entry = wide ? 16 : 8;
    for (let at = 0; at + entry <= dynamic.length; at += entry) {
      const tag = wide ? dv.getBigInt64(at, true) : BigInt(dv.getInt32(at, true));
      if (tag === DT_NULL) break;
      if (tag === DT_AUDIT || tag === DT_DEPAUDIT) {
        return `it names an audit module (${
          tag === DT_AUDIT ? "DT_AUDIT" : "DT_DEPAUDIT"
        }), which the loader would run on the host`;
      }
    }
  }
  return undefined;
}
