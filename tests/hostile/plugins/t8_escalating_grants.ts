// T8: what a plugin does with a grant that escalates: run a program, load
// native code, reach the host's own services, read a neighbour's files.
import { implement, serve } from "@plugbox/plugbox/plugin";
import { Probe } from "./probe.ts";

async function attack(what = ""): Promise<string> {
  const [kind, target = ""] = what.split(" ");
  try {
    switch (kind) {
      case "run": {
        // A child process is outside Deno's sandbox: it reads whatever it likes.
        const out = await new Deno.Command(Deno.execPath(), {
          args: ["eval", `console.log(Deno.readTextFileSync(${JSON.stringify(target)}))`],
        }).output();
        return `ran: ${new TextDecoder().decode(out.stdout).trim()}`;
      }
      case "chmod": {
        // A program may change the modes of what its user owns, which Landlock does not control.
        const out = await new Deno.Command("/usr/bin/chmod", {
          args: ["-R", "a+w", target],
          stderr: "null",
        }).output();
        return `chmod ${out.code}`;
      }
      case "meta": {
        // What chmod does, by other calls Landlock does not control either: a POSIX ACL rewrites
        // a file's mode; chown by its owner clears its set-UID bit (review 53).
        const script = [
          "import os, struct, sys",
          "path = sys.argv[1]",
          "acl = struct.pack('<I', 2) + b''.join(struct.pack('<HHI', tag, 6, 0xffffffff) for tag in (1, 4, 0x20))",
          "for name, act in (('acl', lambda: os.setxattr(path, 'system.posix_acl_access', acl)), ('chown', lambda: os.chown(path, -1, -1))):",
          "    try:",
          "        act(); print(name, 'done')",
          "    except OSError as e:",
          "        print(name, 'refused', e.errno)",
        ].join("\n");
        const out = await new Deno.Command("/usr/bin/python3.11", {
          args: ["-c", script, target],
          stderr: "null",
        }).output();
        return new TextDecoder().decode(out.stdout).trim().replaceAll("\n", "; ");
      }
      case "cat": {
        // A host program (not Deno) the grant names, reading the file.
        const out = await new Deno.Command("/bin/cat", { args: [target], stderr: "null" }).output();
        return `cat ${out.code}: ${new TextDecoder().decode(out.stdout).trim()}`;
      }
      case "link": {
        // A program granted by a spelling through links (/usr/bin/awk -> /etc/alternatives/...).
        const out = await new Deno.Command(target, {
          args: ['BEGIN { print "linked program ran" }'],
          stderr: "null",
        }).output();
        return `link ${out.code}: ${new TextDecoder().decode(out.stdout).trim()}`;
      }
      case "zlib": {
        // A library that is not Deno's own: under an OS layer, there only if the grant put it there.
        const zlib = Deno.dlopen(target, { compressBound: { parameters: ["u64"], result: "u64" } });
        const bound = zlib.symbols.compressBound(1000n);
        zlib.close();
        return `zlib compressBound(1000) = ${bound}`;
      }
      case "null": {
        // A program whose input and output go to /dev/null.
        const status = await new Deno.Command(target, {
          args: ["--version"],
          stdin: "null",
          stdout: "null",
          stderr: "null",
        }).output();
        return `exited ${status.code}`;
      }
      case "ffi": {
        const libc = Deno.dlopen(target, { getpid: { parameters: [], result: "i32" } });
        return `ffi: native getpid() = ${libc.symbols.getpid()}`;
      }
      case "fetch":
        return `fetched: ${await (await fetch(target)).text()}`;
      case "connect": {
        // A raw TCP connection: the host name is checked as written, then resolved.
        const [hostname, port] = [
          target.slice(0, target.lastIndexOf(":")),
          target.slice(target.lastIndexOf(":") + 1),
        ];
        const conn = await Deno.connect({ hostname, port: Number(port) });
        await conn.write(new TextEncoder().encode("GET /admin HTTP/1.0\r\n\r\n"));
        const buffer = new Uint8Array(1024);
        const n = await conn.read(buffer);
        conn.close();
        return `connected: ${
          new TextDecoder().decode(buffer.subarray(0, n ?? 0)).split("\r\n\r\n")[1]
        }`;
      }
      case "read":
        return `read: ${await Deno.readTextFile(target)}`;
      case "write":
        await Deno.writeTextFile(target, "overwritten by the plugin");
        return "wrote";
      default:
        return `unknown attack "${what}"`;
    }
  } catch (error) {
    return `refused: ${(error as Error).name}: ${(error as Error).message.split("\n")[0]}`;
  }
}

if (!Deno.args.some((a) => a.startsWith("--plugbox-nonce="))) {
  console.error(await attack(Deno.args.join(" ")));
} else {
  await serve(implement(Probe, { attempt: attack }));
}
