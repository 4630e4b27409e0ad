// T4: the attack itself, free of the SDK so a control can run it alone: an
// npm: import computed at run time, invisible to the graph check.
export async function attack(): Promise<string> {
  const name = ["npm:left", "pad"].join("-");
  try {
    await import(name);
    return "imported";
  } catch (error) {
    return `refused: ${String(error).split("\n")[0]}`;
  }
}

if (import.meta.main) console.error(await attack());
