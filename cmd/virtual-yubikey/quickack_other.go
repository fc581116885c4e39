//go:build !linux

package main

import "net"

// quickACK is a Linux-only optimization (see quickack_linux.go).
func quickACK(net.Conn) {}
