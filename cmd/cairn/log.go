package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
)

// logConfig is the logging flags every long-running command takes.
type logConfig struct {
	level  slog.Level
	format string
}

func (c *logConfig) register(fs *flag.FlagSet) {
	fs.TextVar(&c.level, "log-level", slog.LevelInfo, "least severe level logged: debug, info, warn or error")
	fs.Func("log-format", "log line format: text or json (default text)", func(s string) error {
		if s != "text" && s != "json" {
			return fmt.Errorf("want text or json")
		}
		c.format = s
		return nil
	})
}

func (c *logConfig) logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.level}
	if c.format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
