package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cairnhq/cairn/internal/inspect"
	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/workers"
)

type dlqConfig struct {
	readerFlags
	Topic       string
	Format      string
	Reason      string
	SourceTopic string
	Offsets     string
	Since       string
	Until       string
	IDs         string
	Execute     bool
	Timeout     time.Duration

	filter inspect.Filter
}

func (c *dlqConfig) Validate() error {
	errs := []error{c.validate()}
	if c.Topic == "" {
		errs = append(errs, errors.New("--topic: required"))
	}
	if _, err := inspect.ParseFormat(c.Format); err != nil {
		errs = append(errs, fmt.Errorf("--format: %w", err))
	}
	if err := checkPositive("timeout", c.Timeout); err != nil {
		errs = append(errs, err)
	}
	now := time.Now()
	f := inspect.Filter{Reason: c.Reason, SourceTopic: c.SourceTopic, IDs: splitList(c.IDs), ToOffset: -1}
	var err error
	if f.Since, err = parseTime("since", c.Since, now); err != nil {
		errs = append(errs, err)
	}
	if f.Until, err = parseTime("until", c.Until, now); err != nil {
		errs = append(errs, err)
	}
	for _, id := range f.IDs {
		if _, _, err := inspect.ParseID(id); err != nil {
			errs = append(errs, fmt.Errorf("--id: %w", err))
		}
	}
	if c.Offsets != "" {
		from, to, ok := strings.Cut(c.Offsets, "-")
		lo, lerr := strconv.ParseInt(from, 10, 64)
		hi, herr := strconv.ParseInt(to, 10, 64)
		if to == "" && ok {
			hi, herr = -1, nil
		} else if !ok {
			hi, herr = lo, nil
		}
		if lerr != nil || herr != nil || lo < 0 || hi != -1 && hi < lo {
			errs = append(errs, fmt.Errorf("--offsets %q: want FROM-TO, FROM- or OFFSET (source offsets)", c.Offsets))
		}
		f.HasOffsets, f.FromOffset, f.ToOffset = true, lo, hi
	}
	c.filter = f
	return errors.Join(errs...)
}

const dlqAbout = "Works with the dead letters: records a worker could not handle, set aside in\n" +
	"the dead-letter topic with why (cairn-dlq-reason, cairn-dlq-error) and where\n" +
	"from (cairn-dlq-topic, -partition, -offset).\n\n" +
	"  list            dead letters grouped by reason and source topic, then each one\n" +
	"  show ID         one dead letter (ID is PARTITION:OFFSET), decoded as far as possible\n" +
	"  replay          produce the selected dead letters again to their source topic,\n" +
	"                  with their event id, once the cause is fixed; a dry run unless\n" +
	"                  --yes. Records that still cannot be handled are refused."

func runDLQ(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintf(stderr, "Usage: cairn dlq list|show ID|replay [flags]\n\n%s\n\nRun 'cairn dlq list --help' for the flags.\n", dlqAbout)
		if len(args) == 0 {
			return usageError{errors.New("want a subcommand: list, show or replay")}
		}
		return nil
	}
	sub := args[0]
	if sub != "list" && sub != "show" && sub != "replay" {
		return usageError{fmt.Errorf("unknown subcommand %q: want list, show or replay", sub)}
	}
	cfg := dlqConfig{}
	fs := newFlagSet("dlq "+sub, "[flags]", dlqAbout, stderr)
	cfg.register(fs)
	fs.StringVar(&cfg.Topic, "topic", workers.DefaultDeadLetterTopic, "the dead-letter topic")
	fs.StringVar(&cfg.Format, "format", "text", "text, or json for scripts")
	fs.StringVar(&cfg.Reason, "reason", "", "only dead letters of this reason (undecodable, unknown_schema, …)")
	fs.StringVar(&cfg.SourceTopic, "source-topic", "", "only dead letters from this topic")
	fs.StringVar(&cfg.Offsets, "offsets", "", "only dead letters whose source offset is in FROM-TO (or FROM-, or OFFSET)")
	fs.StringVar(&cfg.Since, "since", "", "only dead letters set aside since this RFC 3339 time or duration ago")
	fs.StringVar(&cfg.Until, "until", "", "only dead letters set aside until this RFC 3339 time or duration ago")
	fs.StringVar(&cfg.IDs, "id", "", "only these dead letters, PARTITION:OFFSET separated by commas")
	fs.BoolVar(&cfg.Execute, "yes", false, "replay: do it (without it, replay only says what it would do)")
	fs.BoolVar(&cfg.Execute, "execute", false, "replay: the same as --yes")
	fs.DurationVar(&cfg.Timeout, "timeout", time.Minute, "how long the whole command may take")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if sub == "show" {
		if fs.NArg() != 1 {
			return usageError{fmt.Errorf("show: want one dead letter ID (PARTITION:OFFSET), got %d arguments", fs.NArg())}
		}
		cfg.IDs = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return usageError{unexpectedArgs(fs.NArg())}
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	r, dec, closeAll, err := cfg.open()
	if err != nil {
		return err
	}
	defer closeAll()
	ds, regErr, err := inspect.ReadDeadLetters(ctx, r, dec, cfg.Topic, cfg.filter)
	if err != nil {
		return err
	}
	if regErr != nil {
		fmt.Fprintf(stderr, "warning: %v; records are shown undecoded\n", regErr)
	}
	jsonOut := cfg.Format == string(inspect.FormatJSON)
	switch sub {
	case "list":
		return dlqList(stdout, ds, jsonOut)
	case "show":
		if len(ds) == 0 {
			return fmt.Errorf("no dead letter %s in %s", cfg.IDs, cfg.Topic)
		}
		return dlqShow(stdout, ds[0], jsonOut)
	}
	topics, err := r.Topics(ctx)
	if err != nil {
		return err
	}
	var p inspect.Producer
	if cfg.Execute {
		prod, err := kafkax.NewProducer(kafkax.ProducerOptions{Brokers: cfg.KafkaBrokers, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			return err
		}
		defer prod.Close(context.WithoutCancel(ctx))
		p = prod
	}
	results := inspect.Replay(ctx, ds, topics, p)
	return dlqReport(stdout, results, jsonOut)
}

func dlqList(w io.Writer, ds []inspect.DeadLetter, jsonOut bool) error {
	if jsonOut {
		return json.NewEncoder(w).Encode(struct {
			Groups      []inspect.Group      `json:"groups"`
			DeadLetters []inspect.DeadLetter `json:"dead_letters"`
		}{inspect.Groups(ds), ds})
	}
	if len(ds) == 0 {
		fmt.Fprintln(w, "no dead letters")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REASON\tSOURCE TOPIC\tCOUNT\tFIRST\tLAST\tLATEST ERROR")
	for _, g := range inspect.Groups(ds) {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", g.Reason, g.SourceTopic, g.Count, g.First.Format(time.RFC3339), g.Last.Format(time.RFC3339), g.Example)
	}
	fmt.Fprintln(tw, "\nID\tSOURCE\tREASON\tDEAD AT\tEVENT ID\tTYPE")
	for _, d := range ds {
		typ := d.Record.Type
		if typ == "" {
			typ = "(" + string(d.Record.Status) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s/%d@%d\t%s\t%s\t%s\t%s\n", d.ID, d.SourceTopic, d.SourcePartition, d.SourceOffset, d.Reason, d.DeadAt.Format(time.RFC3339), d.EventID(), typ)
	}
	return tw.Flush()
}

func dlqShow(w io.Writer, d inspect.DeadLetter, jsonOut bool) error {
	if jsonOut {
		return json.NewEncoder(w).Encode(d)
	}
	fmt.Fprintf(w, "dead letter %s\n", d.ID)
	fmt.Fprintf(w, "  reason:   %s\n  error:    %s\n", d.Reason, d.Error)
	fmt.Fprintf(w, "  source:   %s partition %d offset %d\n  dead at:  %s\n", d.SourceTopic, d.SourcePartition, d.SourceOffset, d.DeadAt.Format(time.RFC3339Nano))
	fmt.Fprintf(w, "  key:      %q\n", d.Record.Key)
	for _, h := range d.Record.Headers {
		fmt.Fprintf(w, "  header:   %s=%s\n", h.Key, h.Value)
	}
	fmt.Fprintf(w, "  now:      %s", d.Record.Status)
	if d.Record.Status == inspect.StatusDecoded {
		fmt.Fprintf(w, " as %s (schema id %d); it can be replayed\n", d.Record.Type, d.Record.SchemaID)
		var pretty strings.Builder
		if err := indentJSON(&pretty, d.Record.Payload); err == nil {
			fmt.Fprintf(w, "  payload:\n%s\n", pretty.String())
		}
		return nil
	}
	fmt.Fprintf(w, ": %s\n  bytes (base64): %s\n", d.Record.Error, d.Record.Bytes)
	return nil
}

func indentJSON(w io.Writer, b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	out, err := json.MarshalIndent(v, "    ", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "    %s", out)
	return err
}

func dlqReport(w io.Writer, rs []inspect.Result, jsonOut bool) error {
	sum := inspect.Summarize(rs)
	if jsonOut {
		if err := json.NewEncoder(w).Encode(struct {
			Results []inspect.Result `json:"results"`
			Summary inspect.Summary  `json:"summary"`
		}{rs, sum}); err != nil {
			return err
		}
	} else {
		for _, r := range rs {
			d := r.DeadLetter
			switch r.Outcome {
			case inspect.OutcomeReplayed:
				fmt.Fprintf(w, "replayed   %s -> %s/%d@%d (event id %s)\n", d.ID, r.Position.Topic, r.Position.Partition, r.Position.Offset, d.EventID())
			case inspect.OutcomeWouldReplay:
				fmt.Fprintf(w, "would replay %s -> %s (event id %s, %s)\n", d.ID, d.SourceTopic, d.EventID(), d.Record.Type)
			default:
				fmt.Fprintf(w, "refused    %s: %s\n", d.ID, r.Why)
			}
		}
		fmt.Fprintln(w, sum.String())
		if sum.WouldReplay > 0 {
			fmt.Fprintln(w, "dry run: run again with --yes to replay")
		}
	}
	if sum.Refused > 0 {
		return fmt.Errorf("%d of %d dead letters refused", sum.Refused, len(rs))
	}
	return nil
}
