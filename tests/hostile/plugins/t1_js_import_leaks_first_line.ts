// T1: importing a non-JS file as JS puts its first line in the SyntaxError.
import "file:///tmp/plugbox-hostile/secret";
