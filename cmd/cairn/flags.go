package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cairnhq/cairn/internal/auth"
)

// newFlagSet returns a flag set for a command whose usage text lists the
// flags with the environment variable each can also be set from.
func newFlagSet(name, synopsis, about string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: cairn %s %s\n\n%s\n\nFlags:\n", name, synopsis, about)
		fs.VisitAll(func(f *flag.Flag) {
			def := ""
			if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && f.DefValue != "[]" {
				def = fmt.Sprintf(" (default %s)", f.DefValue)
			}
			fmt.Fprintf(stderr, "  --%s\n        %s%s [$%s]\n", f.Name, f.Usage, def, envName(f.Name))
		})
	}
	return fs
}

// parseFlags parses args, then fills each flag not given on the command line
// from its CAIRN_… environment variable.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
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
		return usageError{fmt.Errorf("unexpected arguments: %q", fs.Args())}
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	return nil
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
