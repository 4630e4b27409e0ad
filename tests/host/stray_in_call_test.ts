// A capability call's members, judged from its scan before its parse (review 69): what the SDK
// never sends is refused; escapes and orders that JSON allows are judged as JSON reads them.
import assert from "node:assert/strict";
import { strayInCall } from "../../runner/host/capabilities.ts";
import { scanJson } from "../../runner/wire/mod.ts";

const limits = { maxDepth: 64, maxMembers: 1 << 20 };
const judge = (line: string) =>
  strayInCall("shop.add", scanJson(new TextEncoder().encode(line), limits));
const head = '{"jsonrpc":"2.0","id":1,"method":"shop.add"';

Deno.test("strayInCall: what the SDK sends passes, in any order and spelling JSON allows", () => {
  for (
    const line of [
      `${head}}`,
      `${head},"params":{}}`,
      `${head},"params":{"args":[{"k":1,"k":2}]}}`, // inside the arguments: the argument's
      `${head},"params":{"args":[1],"call":7}}`,
      `{"params":{"call":"x","args":[]},"method":"shop.add","id":1,"jsonrpc":"2.0"}`,
      `{"jsonrpc":"2.0","\\u0069d":1,"method":"shop.add","params":{"\\u0061rgs":[]}}`,
    ]
  ) assert.equal(judge(line), undefined, line);
});

Deno.test("strayInCall: members beside the envelope's, or one of them twice, are refused", () => {
  for (
    const line of [
      `${head},"params":{"args":[]},"junk":[1,2]}`,
      `${head},"id":2,"params":{"args":[]}}`,
      `${head},"params":{"args":[1]},"params":{"args":[]}}`,
      `${head},"\\u0070arams":{"args":[1]},"params":{"args":[]}}`, // the same name, escaped
    ]
  ) assert.match(judge(line) ?? "passed", /member beside "jsonrpc"/, line);
});

Deno.test("strayInCall: params that is not an object, or holds more than args and call, or one twice", () => {
  assert.match(judge(`${head},"params":"x"}`)!, /"params" is not an object/);
  assert.match(judge(`${head},"params":[1]}`)!, /"params" is not an object/);
  assert.match(judge(`${head},"params":null}`)!, /"params" is not an object/);
  assert.match(judge(`${head},"params":{"args":[],"pad":{}}}`)!, /member other than "args"/);
  assert.match(judge(`${head},"params":{"args":[1,2],"args":[]}}`)!, /"args" or "call" twice/);
  assert.match(judge(`${head},"params":{"call":1,"\\u0063all":2}}`)!, /"args" or "call" twice/);
  const many = Array.from({ length: 20 }, (_, i) => `"k${i}":0`).join(",");
  assert.match(judge(`${head},"params":{${many}}}`)!, /member other than "args"/);
  const long = `${head},"params":{"${"a".repeat(100)}":0}}`;
  assert.match(judge(long)!, /member other than "args"/);
});
