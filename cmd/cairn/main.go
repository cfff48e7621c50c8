// Command cairn runs Cairn: its gateway, registry and workers, together for
// development or one role at a time in production, and the client commands
// that talk to them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"dev", "run the whole system in one process, with an embedded Kafka broker", runDev},
		{"registry", "run the schema registry alone (REST and gRPC)", runRegistry},
		{"gateway", "run the gateway alone, against Kafka and a registry", runGateway},
		{"worker", "run a hunt worker alone, against Kafka, a registry and a database", runWorker},
		{"schema", "check and push a team's schemas and topics; write their imports", runSchema},
		{"publish", "publish one event through the gateway", runPublish},
		{"hunt", "read hunts, progress and leaderboards; watch a player live", runHunt},
		{"token", "print a player's JWT that cairn dev accepts", runToken},
		{"bench", "drive load against a running gateway and measure it", runBench},
		{"tail", "print the records of topics, decoded through the registry", runTail},
		{"dlq", "list, show and replay dead letters", runDLQ},
		{"version", "print the version and VCS revision cairn was built from", runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command and returns the process exit code: 0 on success,
// 1 when the command failed, 2 for a usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "--version" || args[0] == "-version" {
		args = append([]string{"version"}, args[1:]...)
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, new(exitError)):
			var ee exitError
			errors.As(err, &ee)
			if ee.err != nil {
				fmt.Fprintf(stderr, "cairn %s: %v\n", c.name, ee.err)
			}
			return ee.code
		case errors.As(err, new(usageError)):
			fmt.Fprintf(stderr, "cairn %s: %v\nRun 'cairn %s --help' for usage.\n", c.name, err, c.name)
			return 2
		default:
			fmt.Fprintf(stderr, "cairn %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "cairn: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: cairn <command> [flags] [arguments]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'cairn <command> --help' for a command's flags. Flags may come before or\nafter the arguments; -- ends them. Every flag can also be set with an\nenvironment variable: --gateway-addr is CAIRN_GATEWAY_ADDR.")
}

// usageError is a mistake in the command line, answered with exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitError ends a command with its own exit code; err, when set, is
// printed first.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}
func (e exitError) Unwrap() error { return e.err }
