package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/cairnhq/cairn/internal/discovery"
	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/schemaload"
	"github.com/cairnhq/cairn/internal/schemas"
	"github.com/cairnhq/cairn/registry/regclient"
	"github.com/cairnhq/cairn/registry/schemaplan"
)

type schemaConfig struct {
	RegistryAddr  string
	RegistryToken string
	KafkaBrokers  string
	Format        string
	Timeout       time.Duration
	Etcd          etcdConfig
}

func (c *schemaConfig) Validate() error {
	if err := c.Etcd.checkTarget("registry-addr", c.RegistryAddr); err != nil {
		return err
	}
	if c.Format != "text" && c.Format != "json" {
		return fmt.Errorf("--format %q: want text or json", c.Format)
	}
	return checkPositive("timeout", c.Timeout)
}

const schemaUsage = `Usage: cairn schema <check|push|deps> [flags] [PATH…]

  check PATH…   say what pushing PATH would do, subject by subject, registering nothing
  push [PATH…]  register PATH's schemas (with no PATH: the hunt schemas cairn carries)
  deps DIR      write Cairn's options.proto and protovalidate's validate.proto into DIR

PATH is a buf module directory (with buf.yaml), a directory of .proto files,
a buf image (.binpb or .json, as 'buf build -o' writes) or .proto files.
Run 'cairn schema <subcommand> --help' for its flags.`

func runSchema(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{errors.New("want a subcommand: check, push or deps")}
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprintln(stderr, schemaUsage)
		return nil
	case "check", "push":
		return runSchemaPlan(ctx, args[0], args[1:], stdout, stderr)
	case "deps":
		return runSchemaDeps(args[1:], stdout, stderr)
	}
	return usageError{fmt.Errorf("unknown subcommand %q: want check, push or deps", args[0])}
}

func runSchemaPlan(ctx context.Context, sub string, args []string, stdout, stderr io.Writer) error {
	cfg := schemaConfig{}
	about := "Compiles PATH's schemas offline (Cairn's options, protovalidate and google/*\n" +
		"come from the copies cairn carries) and asks the registry, without\n" +
		"registering anything, what pushing them would do: one line per subject,\n" +
		"unchanged, new, compatible, or INCOMPATIBLE with each reason and its path.\n" +
		"With --kafka-brokers, also says whether each declared topic exists as declared.\n" +
		"Exit status: 0 when everything may be pushed, 1 when something may not,\n" +
		"2 on a usage or connection error."
	synopsis := "[flags] PATH…"
	if sub == "push" {
		about = "Checks PATH's schemas as 'cairn schema check' does and, when nothing is\n" +
			"refused, registers them: imports first (under their import paths), then each\n" +
			"event under its full name. Files already registered are not registered\n" +
			"again. With --kafka-brokers, first creates each missing topic the events\n" +
			"declare, with its declared shape; a topic that exists with other settings is\n" +
			"reported, never changed. With no PATH, pushes the hunt schemas cairn carries.\n" +
			"Exit status: 0 when everything is registered, 1 when something was refused,\n" +
			"2 on a usage or connection error."
		synopsis = "[flags] [PATH…]"
	}
	fs := newFlagSet("schema "+sub, synopsis, about, stderr)
	fs.StringVar(&cfg.RegistryAddr, "registry-addr", "127.0.0.1:8081", "schema registry address (REST and gRPC), or etcd:///registry for a push without PATH")
	fs.StringVar(&cfg.RegistryToken, "registry-token", "", "schema owner's API key, when the registry checks credentials")
	fs.StringVar(&cfg.KafkaBrokers, "kafka-brokers", "", "Kafka bootstrap brokers, to create (push) or check the events' topics")
	fs.StringVar(&cfg.Format, "format", "text", "output: text (for people) or json (for machines)")
	fs.DurationVar(&cfg.Timeout, "timeout", 30*time.Second, "how long the whole command may take")
	cfg.Etcd.registerClient(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	paths := fs.Args()
	if len(paths) > 0 && strings.HasPrefix(cfg.RegistryAddr, "etcd:///") {
		return usageError{fmt.Errorf("%s PATH: --registry-addr must be the registry's host:port (its REST API is used too), not %s", sub, cfg.RegistryAddr)}
	}
	disc, err := cfg.Etcd.client(slog.New(slog.NewTextHandler(stderr, nil)))
	if err != nil {
		return exitError{code: 2, err: err}
	}
	defer disc.Close()
	if sub == "check" && len(paths) == 0 {
		return usageError{errors.New("check: want at least one PATH")}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	if len(paths) == 0 {
		return pushHunt(ctx, disc, cfg, stdout)
	}
	set, err := loadSchemas(ctx, paths)
	if err != nil {
		return err
	}
	plan, err := schemaplan.NewPlan(set)
	if err != nil {
		return err
	}
	specs, topicEvents, err := schemaplan.TopicSpecs(set.Events())
	if err != nil {
		return exitError{code: 1, err: err}
	}
	conn, err := dialRegistry(disc, cfg.RegistryAddr, cfg.RegistryToken)
	if err != nil {
		return exitError{code: 2, err: err}
	}
	defer conn.Close()
	remote := schemaplan.NewRemote(conn)

	var admin *kafkax.Admin
	if cfg.KafkaBrokers != "" {
		if admin, err = kafkax.NewAdmin(cfg.KafkaBrokers); err != nil {
			return exitError{code: 2, err: err}
		}
		defer admin.Close()
	}

	rep := schemaReport{Command: sub}
	if sub == "check" {
		rep.Subjects, err = plan.Check(ctx, remote)
		if err == nil && admin != nil {
			rep.Topics, err = schemaplan.EnsureTopics(ctx, admin, specs, topicEvents, false)
		}
	} else {
		rep.Subjects, rep.Topics, err = push(ctx, plan, remote, admin, specs, topicEvents)
	}
	if err != nil {
		var ce *schemaplan.ConnectionError
		if errors.As(err, &ce) || ctx.Err() != nil || admin != nil {
			return exitError{code: 2, err: unreachable("registry", cfg.RegistryAddr, conn, err)}
		}
		return err
	}
	if err := rep.write(stdout, cfg.Format); err != nil {
		return err
	}
	if rep.failed() {
		return exitError{code: 1}
	}
	return nil
}

// push creates the topics (so that no event is accepted before its topic
// exists), then registers the schemas, unless the check finds something
// refused.
func push(ctx context.Context, plan *schemaplan.Plan, remote *schemaplan.Remote, admin *kafkax.Admin, specs []kafkax.TopicSpec, topicEvents map[string][]string) ([]schemaplan.Subject, []schemaplan.Topic, error) {
	checked, err := plan.Check(ctx, remote)
	if err != nil {
		return nil, nil, err
	}
	for _, s := range checked {
		if s.Failed() {
			return checked, nil, nil
		}
	}
	var topics []schemaplan.Topic
	if admin != nil {
		if topics, err = schemaplan.EnsureTopics(ctx, admin, specs, topicEvents, true); err != nil {
			return checked, nil, err
		}
		for _, t := range topics {
			if t.Status == schemaplan.TopicRefused {
				return checked, topics, nil
			}
		}
	}
	subjects, err := plan.Push(ctx, remote)
	return subjects, topics, err
}

// pushHunt registers the hunt schemas this binary carries, as cairn dev
// does at start.
func pushHunt(ctx context.Context, disc *discovery.Client, cfg schemaConfig, stdout io.Writer) error {
	files, err := schemas.Hunt()
	if err != nil {
		return err
	}
	conn, err := dialRegistry(disc, cfg.RegistryAddr, cfg.RegistryToken)
	if err != nil {
		return exitError{code: 2, err: err}
	}
	defer conn.Close()
	if err := regclient.RegisterFiles(ctx, regclient.NewRemote(conn), files...); err != nil {
		if u := unreachable("registry", cfg.RegistryAddr, conn, err); u != err {
			return exitError{code: 2, err: u}
		}
		return err
	}
	fmt.Fprintf(stdout, "registered %d hunt schema files in %s\n", len(files), cfg.RegistryAddr)
	return nil
}

// loadSchemas compiles the paths. Unusable paths are usage errors (exit
// 2); schemas that do not compile fail the check (exit 1).
func loadSchemas(ctx context.Context, paths []string) (*schemaload.Set, error) {
	set, err := schemaload.Load(ctx, paths...)
	var ie *schemaload.InputError
	var se *schemaload.SchemaError
	switch {
	case errors.As(err, &ie):
		return nil, exitError{code: 2, err: err}
	case errors.As(err, &se):
		return nil, exitError{code: 1, err: err}
	}
	return set, err
}

// schemaReport is what check and push print.
type schemaReport struct {
	Command  string               `json:"command"`
	OK       bool                 `json:"ok"`
	Subjects []schemaplan.Subject `json:"subjects"`
	Topics   []schemaplan.Topic   `json:"topics,omitempty"`
}

func (r *schemaReport) failed() bool {
	for _, s := range r.Subjects {
		if s.Failed() || s.Status == schemaplan.Skipped {
			return true
		}
	}
	for _, t := range r.Topics {
		if t.Failed() {
			return true
		}
	}
	return false
}

func (r *schemaReport) write(w io.Writer, format string) error {
	r.OK = !r.failed()
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	counts := make(map[schemaplan.Status]int)
	var order []schemaplan.Status
	for _, s := range r.Subjects {
		if counts[s.Status] == 0 {
			order = append(order, s.Status)
		}
		counts[s.Status]++
		line := fmt.Sprintf("%-14s %s", s.Status, s.Subject)
		switch s.Status {
		case schemaplan.Unchanged, schemaplan.Registered:
			line += fmt.Sprintf("  (version %d)", s.Version)
		case schemaplan.New, schemaplan.Compatible:
			line += fmt.Sprintf("  (would be version %d)", s.Version)
		}
		if s.Subject != s.File {
			line += "  " + s.File
		}
		fmt.Fprintln(w, line)
		for _, reason := range s.Reasons {
			fmt.Fprintln(w, "    "+pathFirst(reason))
		}
	}
	for _, t := range r.Topics {
		fmt.Fprintf(w, "topic %-8s %s  (%s)\n", t.Status, t.Topic, strings.Join(t.Events, ", "))
		for _, reason := range t.Reasons {
			fmt.Fprintln(w, "    "+reason)
		}
	}
	var parts []string
	for _, st := range order {
		parts = append(parts, fmt.Sprintf("%d %s", counts[st], st))
	}
	for _, t := range r.Topics {
		if t.Failed() {
			parts = append(parts, fmt.Sprintf("topic %s %s", t.Topic, t.Status))
		}
	}
	verdict := "may be pushed"
	switch {
	case r.Command == "push" && !r.OK && counts[schemaplan.Refused] > 0:
		verdict = "stopped at the refusal: the subjects marked registered above were registered, those marked not registered were not"
	case r.Command == "push" && !r.OK && counts[schemaplan.Registered] == 0:
		verdict = "nothing was registered"
	case r.Command == "push" && !r.OK:
		verdict = "the schemas were registered, but a topic is not as declared"
	case r.Command == "push" && counts[schemaplan.Registered] == 0:
		verdict = "nothing to register: the registry already holds every file"
	case r.Command == "push":
		verdict = "done"
	case !r.OK:
		verdict = "may NOT be pushed"
	}
	fmt.Fprintf(w, "%s: %s: %s\n", r.Command, strings.Join(parts, ", "), verdict)
	return nil
}

// compatReason matches the registry's "KIND #/path: message".
var compatReason = regexp.MustCompile(`^([A-Z][A-Z_]+) (#\S*): (.*)$`)

// pathFirst puts a reason's path first, where a reader looks for it:
// "#/OrderPlaced/4: FIELD_SCALAR_KIND_CHANGED field 4 …".
func pathFirst(reason string) string {
	if m := compatReason.FindStringSubmatch(reason); m != nil {
		return m[2] + ": " + m[1] + " " + m[3]
	}
	return reason
}

// runSchemaDeps writes the .proto files a team's module imports from Cairn,
// printed from the descriptors this binary carries.
func runSchemaDeps(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("schema deps", "DIR",
		"Writes cairn/options/v1/options.proto and buf/validate/validate.proto into DIR,\n"+
			"printed from the copies cairn carries (the registry's and the gateway's own),\n"+
			"so that a team's buf module can import them offline. List DIR as a module of\n"+
			"the team's buf.yaml (v2), and run this again when cairn is upgraded.",
		stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{errors.New("deps: want one DIR")}
	}
	dir := fs.Arg(0)
	written, err := schemas.WriteDeps(dir)
	if err != nil {
		return err
	}
	for _, p := range written {
		fmt.Fprintln(stdout, "wrote", filepath.Join(dir, filepath.FromSlash(p)))
	}
	fmt.Fprintf(stdout, "List it in buf.yaml:\n  version: v2\n  modules:\n    - path: proto\n    - path: %s\n", filepath.ToSlash(filepath.Clean(dir)))
	return nil
}
