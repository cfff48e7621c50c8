package auth

// The development credentials `cairn dev` accepts, so that the README's
// examples work. They are public: never use them outside a laptop.
const (
	// DevAPIKey is the service key of `cairn dev`, role "service".
	DevAPIKey = "cairn-dev-key-0000-not-a-secret"
	// DevJWTSecret signs players' HS256 tokens under `cairn dev`.
	DevJWTSecret = "cairn-dev-jwt-secret-0000-not-a-secret"
	// DevAudience is the aud claim `cairn dev` expects in players' tokens.
	DevAudience = "cairn-dev"
)

// DevRoles are the roles of `cairn dev`: players publish what a player's
// app sends, acting only as themselves; services publish everything.
func DevRoles() map[string][]string {
	return map[string][]string{
		"player": {
			"cairn.hunt.v1.PlayerRegistered",
			"cairn.hunt.v1.PlayerJoinedHunt",
			"cairn.hunt.v1.AnswerSubmitted",
		},
		"service": {"*"},
	}
}

// DevConfig returns the configuration of `cairn dev`: DevAPIKey for
// services, HS256 tokens signed with DevJWTSecret for players.
func DevConfig() Config {
	return Config{
		JWT: JWTConfig{
			Keys:     []Key{{ID: "dev", Key: []byte(DevJWTSecret)}},
			Audience: DevAudience,
		},
		APIKeys: []APIKey{{Key: DevAPIKey, Name: "dev", Role: "service"}},
		Roles:   DevRoles(),
	}
}
