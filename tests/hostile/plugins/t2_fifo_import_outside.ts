// T2: importing a FIFO outside the folder hangs `deno info` itself.
import "file:///tmp/plugbox-hostile/pipe.js";
