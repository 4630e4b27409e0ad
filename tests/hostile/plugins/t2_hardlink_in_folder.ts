// T2: a hard link inside the plugin's folder names a file outside; the test creates "secret_hardlink.txt".
import secret from "./secret_hardlink.txt" with { type: "text" };

console.error(`LEAK: ${secret}`);
