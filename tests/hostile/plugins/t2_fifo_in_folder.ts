// T2: a FIFO in the plugin's folder hangs startup; the test creates "pipe".
import data from "./pipe" with { type: "text" };

console.error(`read ${data.length}`);
