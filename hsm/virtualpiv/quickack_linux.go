package virtualpiv

import (
	"net"
	"syscall"
)

// quickACK asks the kernel to acknowledge what arrives on conn at once.
//
// Debian's vpcd (vsmartcard 3.3) sends each message's 2-byte length and
// its payload in two writes, without TCP_NODELAY: Nagle's algorithm holds
// the payload until the length is acknowledged, and a delayed ACK costs
// 40 ms per APDU. Quick ACK mode is not sticky, so it is set before every
// read.
func quickACK(conn net.Conn) {
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}
