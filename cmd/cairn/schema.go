package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/cairnhq/cairn/internal/schemas"
	"github.com/cairnhq/cairn/registry/regclient"
)

type schemaPushConfig struct {
	RegistryAddr  string
	RegistryToken string
	Timeout       time.Duration
	Etcd          etcdConfig
}

func (c *schemaPushConfig) Validate() error {
	if err := c.Etcd.checkTarget("registry-addr", c.RegistryAddr); err != nil {
		return err
	}
	return checkPositive("timeout", c.Timeout)
}

func runSchema(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "push" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(stderr, "Usage: cairn schema push [flags]\n\nRun 'cairn schema push --help' for its flags.")
			return nil
		}
		return usageError{errors.New("want a subcommand: push")}
	}
	cfg := schemaPushConfig{}
	fs := newFlagSet("schema push", "[flags]",
		"Registers the hunt schemas this binary carries in a schema registry, through\n"+
			"its gRPC API: dependencies first, under their import paths, then each event\n"+
			"under its full name. Registering them again changes nothing; a change that\n"+
			"breaks the subject's compatibility level is refused with its reasons.",
		stderr)
	fs.StringVar(&cfg.RegistryAddr, "registry-addr", "127.0.0.1:8081", "schema registry address (its gRPC API), or etcd:///registry")
	fs.StringVar(&cfg.RegistryToken, "registry-token", "", "schema owner's API key, when the registry checks credentials")
	fs.DurationVar(&cfg.Timeout, "timeout", 30*time.Second, "how long the whole push may take")
	cfg.Etcd.registerClient(fs)
	if err := parseConfig(fs, args[1:], &cfg); err != nil {
		return err
	}
	files, err := schemas.Hunt()
	if err != nil {
		return err
	}
	disc, err := cfg.Etcd.client(slog.New(slog.NewTextHandler(stderr, nil)))
	if err != nil {
		return err
	}
	defer disc.Close()
	conn, err := dialRegistry(disc, cfg.RegistryAddr, cfg.RegistryToken)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	if err := regclient.RegisterFiles(ctx, regclient.NewRemote(conn), files...); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "registered %d hunt schema files in %s\n", len(files), cfg.RegistryAddr)
	return nil
}
