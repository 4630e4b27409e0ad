// T11: the costliest JSON a line can hold. "answer": the answer to the call
// is nested 100,000 deep (JSON.parse builds it; anything that walks it
// recursively, such as structuredClone or JSON.stringify, then overflows the
// stack). "wide": the answer has 8 million members (seconds of JSON.parse).
// "flood": 15 MiB lines of nesting, unasked for, forever.
import { answer, serveProbe, writeLine } from "./_raw.ts";

const deep = (levels: number) => "[".repeat(levels) + "]".repeat(levels);

await serveProbe((mode, id) => {
  if (mode === "answer") {
    writeLine(`{"jsonrpc":"2.0","id":${id},"result":${deep(100_000)}}`);
  } else if (mode === "wide") {
    writeLine(`{"jsonrpc":"2.0","id":${id},"result":[${"0,".repeat(8_000_000)}0]}`);
  } else if (mode === "flood") {
    const line = `{"jsonrpc":"2.0","id":0,"result":${deep((15 << 20) / 2)}}`;
    for (;;) writeLine(line);
  } else answer(id, "unknown mode");
  return Promise.resolve();
});
