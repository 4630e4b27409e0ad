// T14: imports a module through a link outside its folder. When the check
// runs, the link points into the plugin's own snapshot; by the time the
// plugin runs, it can point anywhere (or name another file in another view).
import data from "file:///tmp/plugbox-hostile/t14-alias/data.js";

console.error(`LEAK: ${data}`);
