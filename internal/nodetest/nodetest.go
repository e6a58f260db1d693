// Package nodetest helps tests run real carechain nodes side by side on
// loopback. It is for tests only.
package nodetest

import (
	"errors"
	"net"
	"strconv"
)

// FreeBasePort returns P such that P, P+1 and P+2 are free on 127.0.0.1:
// the ports a node made with node.Init(home, chainID, P) listens on. Free
// now is not free forever, but a clash fails a test loudly, never silently.
func FreeBasePort() (int, error) {
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		base := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if base > 65000 {
			continue
		}
		free := true
		for p := base; free && p < base+3; p++ {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				free = false
				break
			}
			l.Close()
		}
		if free {
			return base, nil
		}
	}
	return 0, errors.New("no three consecutive free loopback ports")
}
