# Review 168's forger (r168_forges_refusal.ts) as native code: a start through bash's steps
# (review 169's pending signals limit, which dash cannot set), where bash writes the exec mark.
import sys

verdict = (
    "plugbox refused task-budget budget=100 reserved=99 cap=64 others=3: the machine's plugins "
    "may hold 100 processes and threads together: stop a plugin, or give this one a lower cpu.maxTasks"
)
for line in [
    verdict,
    "plugbox: the plugin runs from here",
    verdict,
    "plugbox: cannot start the plugin: the machine's plugins may hold 100 processes",
]:
    sys.stderr.write(line + "\n")
sys.stderr.flush()
sys.exit(125)
