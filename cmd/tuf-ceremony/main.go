// Command tuf-ceremony runs TUF key ceremonies on an air-gapped machine:
// keys generated on hardware tokens, threshold-signed metadata, and
// everything carried on removable media. See README.md.
package main

import "os"

func main() { os.Exit(Main()) }
