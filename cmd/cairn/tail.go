package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cairnhq/cairn/internal/inspect"
)

type tailConfig struct {
	readerFlags
	From   string
	Follow bool
	Type   string
	Key    string
	Limit  int
	Format string

	opts inspect.TailOptions
}

func (c *tailConfig) Validate() error {
	errs := []error{c.validate()}
	var err error
	if c.opts.Start, err = parseStart(c.From, time.Now()); err != nil {
		errs = append(errs, err)
	}
	if c.opts.Format, err = inspect.ParseFormat(c.Format); err != nil {
		errs = append(errs, fmt.Errorf("--format: %w", err))
	}
	if c.Limit < 0 {
		errs = append(errs, fmt.Errorf("--limit %d: want 0 (no limit) or more", c.Limit))
	}
	c.opts.Follow, c.opts.Type, c.opts.Key, c.opts.Limit = c.Follow, c.Type, c.Key, c.Limit
	return errors.Join(errs...)
}

func runTail(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := tailConfig{}
	fs := newFlagSet("tail", "[flags] [TOPIC…]",
		"Prints the records of the topics (default: every topic), one per line, decoded\n"+
			"through the schema registry: time, topic/partition@offset, key, the cairn-*\n"+
			"headers, the type and the payload as ProtoJSON. Records that are not framed or\n"+
			"whose schema is unknown are shown as such with their bytes in base64. It reads\n"+
			"without a consumer group and commits nothing.",
		stderr)
	cfg.register(fs)
	fs.StringVar(&cfg.From, "from", "beginning", "where to start: beginning, end, an offset, an RFC 3339 time or a duration ago (10m)")
	fs.BoolVar(&cfg.Follow, "follow", isTerminal(stdout), "keep printing new records (default on a terminal)")
	fs.StringVar(&cfg.Type, "type", "", "only records of this message type, e.g. cairn.hunt.v1.AnswerSubmitted")
	fs.StringVar(&cfg.Key, "key", "", "only records with this key")
	fs.IntVar(&cfg.Limit, "limit", 0, "stop after this many records (0: no limit)")
	fs.StringVar(&cfg.Format, "format", "text", "text, or json: one object per line, for jq")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	cfg.opts.Topics = fs.Args()
	r, dec, closeAll, err := cfg.open()
	if err != nil {
		return err
	}
	defer closeAll()
	return inspect.Tail(ctx, r, dec, cfg.opts, stdout, stderr)
}
