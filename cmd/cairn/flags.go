package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	"github.com/cairnhq/cairn/internal/auth"
	"github.com/cairnhq/cairn/registry/schemaplan"
)

// newFlagSet returns a flag set for a command whose usage text lists the
// flags with the environment variable each can also be set from.
func newFlagSet(name, synopsis, about string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// Mistakes are reported once, by the caller, with a pointer to --help;
	// the usage is printed for --help only (see parseInterspersed).
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s\n\n%s\n", strings.TrimSpace("cairn "+name+" "+synopsis), about)
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n == 0 {
			return
		}
		if synopsis == "[flags]" {
			fmt.Fprintf(stderr, "\nFlags:\n")
		} else {
			fmt.Fprintf(stderr, "\nFlags (before or after the arguments):\n")
		}
		fs.VisitAll(func(f *flag.Flag) {
			def := ""
			if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "0s" && f.DefValue != "false" && f.DefValue != "[]" {
				def = fmt.Sprintf(" (default %s)", f.DefValue)
			}
			fmt.Fprintf(stderr, "  --%s\n        %s%s [$%s]\n", f.Name, f.Usage, def, envName(f.Name))
		})
	}
	return fs
}

// parseFlags parses args, flags and arguments in any order ("--" ends the
// flags), then fills each flag not given on the command line from its
// CAIRN_… environment variable. fs.Args() then returns the arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := parseInterspersed(fs, args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return usageError{err}
	}
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		v, ok := os.LookupEnv(envName(f.Name))
		if !ok || set[f.Name] || err != nil {
			return
		}
		if serr := fs.Set(f.Name, v); serr != nil {
			err = usageError{fmt.Errorf("%s=%q: %w", envName(f.Name), v, serr)}
		}
	})
	return err
}

// parseInterspersed parses args as the flag package does, except that
// flags may follow the arguments (cairn publish TYPE JSON --event-id X)
// until a "--", after which everything is an argument.
func parseInterspersed(fs *flag.FlagSet, args []string) error {
	usage := fs.Usage
	fs.Usage = func() {}
	defer func() { fs.Usage = usage }()
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				usage()
			}
			return err
		}
		rest := fs.Args()
		used := args[:len(args)-len(rest)]
		if n := len(used); n > 0 && used[n-1] == "--" && (n < 2 || !takesValue(fs, used[n-2])) {
			positional = append(positional, rest...) // "--" ended the flags
			break
		}
		if len(rest) == 0 {
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	// Leave the arguments where fs.Args() finds them.
	return fs.Parse(append([]string{"--"}, positional...))
}

// takesValue reports whether arg is a flag that takes the next argument
// as its value (so that a "--" after it is that value).
func takesValue(fs *flag.FlagSet, arg string) bool {
	name, ok := strings.CutPrefix(arg, "-")
	if !ok || strings.Contains(name, "=") {
		return false
	}
	name = strings.TrimPrefix(name, "-")
	f := fs.Lookup(name)
	if f == nil {
		return false
	}
	b, isBool := f.Value.(interface{ IsBoolFlag() bool })
	return !isBool || !b.IsBoolFlag()
}

// envName maps a flag name to its environment variable: gateway-addr is
// CAIRN_GATEWAY_ADDR.
func envName(flagName string) string {
	return "CAIRN_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// checkAddr checks a host:port flag value.
func checkAddr(flagName, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--%s %q: want host:port: %w", flagName, addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("--%s %q: port must be a number from 0 to 65535", flagName, addr)
	}
	return nil
}

// parseConfig parses a command that takes flags only, then validates the
// configuration they filled.
func parseConfig(fs *flag.FlagSet, args []string, cfg interface{ Validate() error }) error {
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{unexpectedArgs(fs.NArg())}
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	return nil
}

// unexpectedArgs refuses arguments a command does not take. It never
// echoes them: they may hold a secret meant for a flag.
func unexpectedArgs(n int) error {
	return fmt.Errorf("unexpected arguments: this command takes flags only (got %d)", n)
}

// callerCredentials are the flags of commands that call the gateway: a
// player's JWT, or a service's API key (by default the key cairn dev
// accepts). The token wins.
type callerCredentials struct {
	Token  string
	APIKey string
}

func (c *callerCredentials) register(fs *flag.FlagSet) {
	fs.StringVar(&c.APIKey, "api-key", auth.DevAPIKey, "service API key, sent as x-api-key; the default is the key cairn dev accepts")
	fs.StringVar(&c.Token, "token", "", "player JWT sent as a bearer token instead of the API key")
}

// check refuses a credential flag given explicitly empty (for example
// --token "$(cairn token …)" when minting failed): an empty value must
// not fall back to the dev service key. Call it after fs is parsed.
func (c *callerCredentials) check(fs *flag.FlagSet) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		if (f.Name == "token" || f.Name == "api-key") && f.Value.String() == "" && err == nil {
			err = fmt.Errorf("--%s is empty: give a credential, or leave the flag out", f.Name)
		}
	})
	return err
}

// metadata returns the call's authorization metadata.
func (c *callerCredentials) metadata() []string {
	switch {
	case c.Token != "":
		return []string{"authorization", "Bearer " + c.Token}
	case c.APIKey != "":
		return []string{"x-api-key", c.APIKey}
	}
	return nil
}

// checkPositive checks a duration flag that must be above zero.
func checkPositive(flagName string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("--%s %s: want a positive duration", flagName, d)
	}
	return nil
}

// unreachable replaces err, from a call on conn to the what (gateway,
// registry) at addr, with "WHAT unreachable at ADDR (is `cairn dev`
// running?)" when the call failed because conn never reached the server.
// Other errors are returned unchanged.
func unreachable(what, addr string, conn *grpc.ClientConn, err error) error {
	if err == nil || conn == nil || errors.Is(err, context.Canceled) {
		return err
	}
	if conn.GetState() == connectivity.Ready {
		return err
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
	default:
		if !errors.As(err, new(*schemaplan.ConnectionError)) {
			return err
		}
	}
	return fmt.Errorf("%s unreachable at %s (is `cairn dev` running?)", what, addr)
}
