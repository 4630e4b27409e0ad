// T12: a literal import of /dev/tty returns what the person types at the host's terminal.
import typed from "file:///dev/tty" with { type: "text" };

console.error(`LEAK: ${typed}`);
