// T2: a link to a folder outside; the test creates "linked" pointing at a folder of secrets.
import secret from "./linked/secret_link.js";

console.error(`LEAK: ${secret}`);
