// T2: a link inside the plugin's folder points outside; the test creates "secret_link.js"
// (to a module, or to a folder holding one).
import secret from "./secret_link.js";

console.error(`LEAK: ${secret}`);
