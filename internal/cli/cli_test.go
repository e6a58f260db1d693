package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets the scripts run "carechain" as a real subprocess of the
// test binary, through the same Main as cmd/carechain.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"carechain": func() { os.Exit(Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the end-to-end CLI scripts in testdata/script. Each
// script gets BASEPORT, the first of three free loopback ports, for a node
// of its own.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			port, err := freeBasePort()
			if err != nil {
				return err
			}
			env.Setenv("BASEPORT", strconv.Itoa(port))
			env.Setenv("HOME", env.WorkDir) // never touch the real ~/.carechain
			return nil
		},
	})
}

// freeBasePort finds P such that P, P+1 and P+2 are free on 127.0.0.1.
func freeBasePort() (int, error) {
	for attempt := 0; attempt < 50; attempt++ {
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
		for p := base; p < base+3; p++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
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
	return 0, fmt.Errorf("no three consecutive free ports found")
}
