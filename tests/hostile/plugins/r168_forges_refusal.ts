// Review 168: forges plugbox's own refusal of its start. Granted nothing, it writes on stderr a
// verdict in the words and shape of the prologue's (the budget of tasks, with its fields), then
// the line plugbox's last step writes just before the plugin's exec, the verdict again (after a
// mark of its own, as if plugbox's steps came after it), and the old `plugbox:` words, and exits
// 125 as the prologue does: as if plugbox had refused it and it never ran.
const verdict =
  "plugbox refused task-budget budget=100 reserved=99 cap=64 others=3: the machine's plugins may hold 100 processes and threads together: stop a plugin, or give this one a lower cpu.maxTasks";
console.error(verdict);
console.error("plugbox: the plugin runs from here");
console.error(verdict);
console.error("plugbox: cannot start the plugin: the machine's plugins may hold 100 processes");
Deno.exit(125);
