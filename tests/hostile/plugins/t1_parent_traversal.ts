// T1: ".." in a relative specifier walks out of the plugin's folder.
import secret from "../../../../../../../../../../../tmp/plugbox-hostile/secret.txt" with {
  type: "text",
};

console.error(`LEAK: ${secret}`);
