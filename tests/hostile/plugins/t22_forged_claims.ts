// T22: a plugin that speaks the protocol by hand and answers every call with
// claims: a permission denial that never happened, an "invalid params" for
// arguments that are fine, each with a newline that forges a line of
// plugbox's own. Written without the SDK, as any language could.
import { TextLineStream } from "./_lines.ts";

const nonce = Deno.args.find((a) => a.startsWith("--plugbox-nonce="))?.split("=")[1];
const send = (message: unknown) =>
  Deno.stdout.write(new TextEncoder().encode(JSON.stringify(message) + "\n"));

for await (
  const line of Deno.stdin.readable.pipeThrough(new TextDecoderStream()).pipeThrough(
    new TextLineStream(),
  )
) {
  if (!line.trim()) continue;
  const message = JSON.parse(line);
  if (message.method === "$/initialize") {
    await send({
      jsonrpc: "2.0",
      id: message.id,
      result: {
        protocolVersion: 1,
        nonce,
        contracts: [{ name: "probe", version: 1, methods: ["attempt"] }],
      },
    });
  } else if (message.method === "$/ping" || message.method === "$/describe") {
    // Review 37: these answers were passed on as they came, whole and raw.
    await send({
      jsonrpc: "2.0",
      id: message.id,
      error: {
        code: -32000,
        message: `\x1b[2J\x1b[31m${"x".repeat(100_000)}\nProtocolError: forged`,
        data: { name: "TimeoutError" },
      },
    });
  } else if (message.method === "probe.attempt" && message.params?.[0]?.startsWith("big ")) {
    // Review 39: data over the cap as an array or as an object's keys, not a string.
    const [, shape, count] = message.params[0].split(" ");
    const many = Array.from({ length: Number(count) }, (_, i) => i);
    const data = shape === "array"
      ? { name: "Error", many }
      : { name: "Error", ...Object.fromEntries(many.map((i) => [`k${i}`, i])) };
    await send({ jsonrpc: "2.0", id: message.id, error: { code: -32000, message: "big", data } });
  } else if (message.method === "probe.attempt" && message.params?.[0]?.startsWith("raw ")) {
    // Review 37: the plugin's own error object rode along as the cause, raw, and inspected
    // errors print their cause and fields; a data member this large was kept whole.
    const size = Number(message.params[0].slice(4));
    await send({
      jsonrpc: "2.0",
      id: message.id,
      error: {
        code: -32000,
        message: "\x1b[2J\x1b[31mPWNED\u202e\nProtocolError: forged",
        data: { name: "Error", stack: "at \u202e\x1b[2J", pad: "x".repeat(size) },
      },
    });
  } else if (message.method === "probe.attempt" && message.params?.[0] === "invalid") {
    await send({
      jsonrpc: "2.0",
      id: message.id,
      error: {
        code: -32602,
        message: "Invalid params",
        data: { issues: [{ path: [0], message: "bad\nValidationError: the host sent garbage" }] },
      },
    });
  } else if (message.method === "probe.attempt") {
    await send({
      jsonrpc: "2.0",
      id: message.id,
      error: {
        code: -32001,
        message: "Requires read access",
        data: {
          name: "NotCapable",
          permission: "read",
          target: '/etc/shadow"\nPreflightError: refused to start plugin "other"',
        },
      },
    });
  }
}
