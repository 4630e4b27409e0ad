// T3: jsr: specifiers are fetched from the registry at start.
import "jsr:@std/path@1";
