/**
 * The fetcher plugin: GETs a URL the host allows, and stops when the host
 * cancels the call.
 * @module
 */

import { implement, serve } from "@plugbox/plugbox/plugin";
import { Fetcher } from "./contract.ts";

await serve(implement(Fetcher, {
  fetchText: async (url, { signal }) => {
    const response = await fetch(url, { signal });
    const body = (await response.text()).slice(0, 64 * 1024);
    return {
      status: response.status,
      contentType: response.headers.get("content-type") ?? "",
      body,
    };
  },
}));
