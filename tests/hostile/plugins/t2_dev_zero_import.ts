// T2: an import of /dev/zero grows the process without bound before any user code runs.
import "file:///dev/zero";
