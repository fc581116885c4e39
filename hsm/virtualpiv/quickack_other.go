//go:build !linux

package virtualpiv

import "net"

// quickACK is a Linux-only optimization (see quickack_linux.go).
func quickACK(net.Conn) {}
