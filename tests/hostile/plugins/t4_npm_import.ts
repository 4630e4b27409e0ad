// T4: an npm: import is downloaded and executed with zero permissions.
import leftPad from "npm:left-pad@1";

console.error(leftPad("x", 3));
