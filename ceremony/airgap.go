package ceremony

import (
	"net"
	"sort"
)

// NetworkInterfacesUp lists the network interfaces, other than loopback,
// that are up. A ceremony machine should have none (invariant 8): the
// CLI and the TUI warn when it does.
func NetworkInterfacesUp() ([]string, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var up []string
	for _, i := range ifaces {
		if i.Flags&net.FlagUp != 0 && i.Flags&net.FlagLoopback == 0 {
			up = append(up, i.Name)
		}
	}
	sort.Strings(up)
	return up, nil
}
