package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"

	cmtlog "github.com/cometbft/cometbft/libs/log"
)

func newLogger(w io.Writer, c LogConfig) (*slog.Logger, error) {
	if w == nil {
		return slog.New(slog.DiscardHandler), nil
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(orDefault(c.Level, "info"))); err != nil {
		return nil, fmt.Errorf("log.level %q: use debug, info, warn or error", c.Level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch orDefault(c.Format, "text") {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log.format %q: use text or json", c.Format)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// cometLogger routes CometBFT's logs into slog, at its own level (CometBFT
// logs every vote at info, too much for an operator by default).
func cometLogger(l *slog.Logger, level string, stopping *atomic.Bool) cmtlog.Logger {
	min := slog.LevelError
	switch strings.ToLower(level) {
	case "debug":
		min = slog.LevelDebug
	case "info":
		min = slog.LevelInfo
	}
	return cometAdapter{l: l.With("module", "consensus"), min: min, stopping: stopping}
}

type cometAdapter struct {
	l        *slog.Logger
	min      slog.Level
	stopping *atomic.Bool // set while the node shuts down
}

func (c cometAdapter) Debug(msg string, kv ...any) { c.log(slog.LevelDebug, msg, kv) }
func (c cometAdapter) Info(msg string, kv ...any)  { c.log(slog.LevelInfo, msg, kv) }
func (c cometAdapter) Error(msg string, kv ...any) { c.log(slog.LevelError, msg, kv) }

func (c cometAdapter) log(level slog.Level, msg string, kv []any) {
	if level == slog.LevelError && c.stopping.Load() {
		// CometBFT reports its own listeners and peers closing as errors
		// during an orderly stop; they are not.
		level = slog.LevelDebug
	}
	if level < c.min {
		return
	}
	c.l.Log(context.Background(), level, msg, kv...)
}

func (c cometAdapter) With(kv ...any) cmtlog.Logger {
	return cometAdapter{l: c.l.With(kv...), min: c.min, stopping: c.stopping}
}
