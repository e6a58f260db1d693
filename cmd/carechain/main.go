// Command carechain runs and operates carechain nodes. See internal/cli.
package main

import (
	"context"
	"os"

	"github.com/carechain/carechain/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
