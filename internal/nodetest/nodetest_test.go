package nodetest

import (
	"net"
	"strconv"
	"testing"
)

func TestFreeBasePortGivesThreeFreePorts(t *testing.T) {
	base, err := FreeBasePort()
	if err != nil {
		t.Fatal(err)
	}
	for p := base; p < base+3; p++ {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("port %d of base %d is taken: %v", p, base, err)
		}
		l.Close()
	}
}
