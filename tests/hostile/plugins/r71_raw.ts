/**
 * Review 71: an attacking plugin without the SDK, serving `R66`
 * (r66_contract.ts) by hand. Each mode sends valid capability calls whose
 * line carries junk that the scan's screen (JsonScan.stray, strayInCall)
 * did not see, while `JSON.parse` of the whole line built it: the scan and
 * the parse disagreed about the envelope.
 * @module
 */

import { encoder, paced, serveRaw } from "./_raw_async.ts";

const BOM = "\uFEFF"; // written as its UTF-8 bytes EF BB BF, raw, inside a key

await serveRaw("r66", {
  // Valid calls for `b` seconds, each carrying a string of `a` bytes placed per `c`:
  // "result": as a "result" member beside the request's envelope (the scan takes "result" and
  //   "error" as envelope names, so a request with them is not "stray"); params > 4 KiB so the
  //   whole line is parsed when params is read;
  // "error": the same as an "error" member;
  // "resultnow": "result" beside a call of `now` (no argument), its params 4.2 KB of spaces;
  // "bomtop": as a member named BOM + "\u0072esult" (the scan decodes the key alone, and the
  //   decoder strips a leading BOM: the scan reads "result", the parse "\uFEFFresult");
  // "bomparams": the call's `params` named BOM + "\u0070arams": the scan sees params
  //   {"args":[junk]}, the parse sees no params at all; `now` takes no argument and answers;
  // "bomcall": a params member named BOM + "call" (scan: "call"; parse: "\uFEFFcall");
  // "legitnow": the junk as an argument `now` does not take (invalid: work for nothing, faults);
  // "legit": the junk as the argument of `size` (what any argument costs).
  junk: (a, b, c) => {
    const head = '{"jsonrpc":"2.0","id":"00000000","method":"r66.';
    const pad = "x".repeat(Number(a));
    const big = `{"args":["${"y".repeat(4200)}"]}`;
    const text = c === "result"
      ? `${head}size","params":${big},"result":"${pad}"}`
      : c === "error"
      ? `${head}size","params":${big},"error":"${pad}"}`
      : c === "bomtop"
      ? `${head}size","params":${big},"${BOM}\\u0072esult":"${pad}"}`
      : c === "resultnow"
      ? `${head}now","params":{"args":[]${" ".repeat(4200)}},"result":"${pad}"}`
      : c === "bomparams"
      ? `${head}now","${BOM}\\u0070arams":{"args":["${pad}"]}}`
      : c === "bomcall"
      ? `${head}size","params":{"${BOM}call":"${pad}","args":["y"]}}`
      : c === "legitnow"
      ? `${head}now","params":{"args":["${pad}"]}}`
      : `${head}size","params":{"args":["${pad}"]}}`;
    return paced(encoder.encode(text + "\n"), Number(b), 23);
  },
});
