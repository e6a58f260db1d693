package consent

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

// A tiny reader and rewriter for data-driven scripts in the style of
// etcd-io/raft's datadriven package:
//
//	# comments and blank lines between cases are kept on rewrite
//	command key=value flag
//	input line
//	----
//	expected output
//
// Each case ends at a blank line or the end of the file. With -rewrite,
// expected outputs are replaced by what the test produced.

var rewrite = flag.Bool("rewrite", false, "rewrite expected outputs in testdata/scenarios")

type scriptCase struct {
	pre    []string // comment and blank lines before the case
	line   int      // line number of the command
	cmd    string
	args   []scriptArg
	header string
	input  []string
	want   string
}

type scriptArg struct{ key, val string }

func (c *scriptCase) arg(key string) (string, bool) {
	for _, a := range c.args {
		if a.key == key {
			return a.val, true
		}
	}
	return "", false
}

func (c *scriptCase) argOr(key, def string) string {
	if v, ok := c.arg(key); ok {
		return v
	}
	return def
}

func readScript(path string) ([]*scriptCase, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	var cases []*scriptCase
	var pre []string
	for i := 0; i < len(lines); {
		l := lines[i]
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			pre = append(pre, l)
			i++
			continue
		}
		c := &scriptCase{pre: pre, line: i + 1, header: l}
		pre = nil
		fields := strings.Fields(l)
		c.cmd = fields[0]
		for _, f := range fields[1:] {
			k, v, _ := strings.Cut(f, "=")
			c.args = append(c.args, scriptArg{k, v})
		}
		i++
		for ; i < len(lines) && lines[i] != "----"; i++ {
			c.input = append(c.input, lines[i])
		}
		if i == len(lines) {
			return nil, nil, fmt.Errorf("%s:%d: %s has no ---- line", path, c.line, c.cmd)
		}
		i++ // ----
		var want []string
		for ; i < len(lines) && strings.TrimSpace(lines[i]) != ""; i++ {
			want = append(want, lines[i])
		}
		c.want = strings.Join(want, "\n")
		cases = append(cases, c)
	}
	return cases, pre, nil
}

// runScript runs every case of the script at path through run and compares
// or rewrites the outputs.
func runScript(t *testing.T, path string, run func(c *scriptCase) string) {
	t.Helper()
	cases, trailer, err := readScript(path)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, c := range cases {
		got := strings.TrimRight(run(c), "\n")
		if !*rewrite && got != c.want {
			t.Errorf("%s:%d: %s\ngot:\n%s\nwant:\n%s", path, c.line, c.header, got, c.want)
		}
		for _, p := range c.pre {
			out.WriteString(p + "\n")
		}
		out.WriteString(c.header + "\n")
		for _, in := range c.input {
			out.WriteString(in + "\n")
		}
		out.WriteString("----\n" + got + "\n")
	}
	for _, p := range trailer {
		out.WriteString(p + "\n")
	}
	if *rewrite {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
