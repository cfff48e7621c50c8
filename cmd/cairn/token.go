package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cairnhq/cairn/internal/auth"
	"github.com/cairnhq/cairn/internal/wire"
)

func runToken(_ context.Context, args []string, stdout, stderr io.Writer) error {
	var ttl time.Duration
	fs := newFlagSet("token", "[flags] PLAYER",
		"Prints a player's JWT that `cairn dev` accepts: HS256 with the dev secret,\n"+
			"audience cairn-dev, subject PLAYER (a UUID). Use it to publish as that\n"+
			"player, who may then only act as themselves:\n"+
			"  cairn publish --token \"$(cairn token $PLAYER)\" cairn.hunt.v1.AnswerSubmitted '{…}'\n"+
			"Never use it outside development: the secret is in the source.",
		stderr)
	fs.DurationVar(&ttl, "ttl", time.Hour, "how long the token is valid")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{fmt.Errorf("want PLAYER, got %d arguments", fs.NArg())}
	}
	if err := checkPositive("ttl", ttl); err != nil {
		return usageError{err}
	}
	player := fs.Arg(0)
	if !wire.IsUUID(player) {
		return usageError{fmt.Errorf("PLAYER %q is not a UUID", player)}
	}
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject:   player,
		Audience:  jwt.ClaimStrings{auth.DevAudience},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	})
	tok.Header["kid"] = "dev"
	signed, err := tok.SignedString([]byte(auth.DevJWTSecret))
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, signed)
	return nil
}
