package main

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cairnhq/cairn/internal/auth"
)

// authFile is the gateway's --auth-file: who may call it and what each
// role may publish.
//
//	{
//	  "jwt": {"audience": "cairn", "issuer": "https://login.example",
//	          "keys": [{"id": "k1", "public_key_pem": "-----BEGIN PUBLIC KEY-----…"},
//	                   {"id": "k2", "hmac_secret": "…"}]},
//	  "api_keys": [{"name": "organiser-tool", "key": "…", "role": "service"}],
//	  "certificates": [{"name": "scoring.internal", "role": "service"}],
//	  "roles": {"player": ["cairn.hunt.v1.AnswerSubmitted"], "service": ["*"]}
//	}
type authFile struct {
	JWT struct {
		Audience    string `json:"audience"`
		Issuer      string `json:"issuer"`
		Leeway      string `json:"leeway"`
		DefaultRole string `json:"default_role"`
		Keys        []struct {
			ID           string `json:"id"`
			HMACSecret   string `json:"hmac_secret"`
			PublicKeyPEM string `json:"public_key_pem"`
		} `json:"keys"`
	} `json:"jwt"`
	APIKeys []struct {
		Name string `json:"name"`
		Key  string `json:"key"`
		Role string `json:"role"`
	} `json:"api_keys"`
	Certificates []struct {
		Name string `json:"name"`
		Role string `json:"role"`
	} `json:"certificates"`
	Roles map[string][]string `json:"roles"`
}

// readAuthFile reads and checks an --auth-file.
func readAuthFile(path string) (auth.Config, error) {
	var cfg auth.Config
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("--auth-file: %w", err)
	}
	var f authFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return cfg, fmt.Errorf("--auth-file %s: %w", path, err)
	}
	cfg.JWT.Audience, cfg.JWT.Issuer, cfg.JWT.DefaultRole = f.JWT.Audience, f.JWT.Issuer, f.JWT.DefaultRole
	if f.JWT.Leeway != "" {
		if cfg.JWT.Leeway, err = time.ParseDuration(f.JWT.Leeway); err != nil {
			return cfg, fmt.Errorf("--auth-file %s: jwt.leeway: %w", path, err)
		}
	}
	for i, k := range f.JWT.Keys {
		key := auth.Key{ID: k.ID}
		switch {
		case k.HMACSecret != "" && k.PublicKeyPEM != "":
			return cfg, fmt.Errorf("--auth-file %s: jwt.keys[%d]: give hmac_secret or public_key_pem, not both", path, i)
		case k.HMACSecret != "":
			key.Key = []byte(k.HMACSecret)
		case k.PublicKeyPEM != "":
			block, _ := pem.Decode([]byte(k.PublicKeyPEM))
			if block == nil {
				return cfg, fmt.Errorf("--auth-file %s: jwt.keys[%d]: public_key_pem holds no PEM block", path, i)
			}
			if key.Key, err = x509.ParsePKIXPublicKey(block.Bytes); err != nil {
				return cfg, fmt.Errorf("--auth-file %s: jwt.keys[%d]: %w", path, i, err)
			}
		default:
			return cfg, fmt.Errorf("--auth-file %s: jwt.keys[%d]: give hmac_secret or public_key_pem", path, i)
		}
		cfg.JWT.Keys = append(cfg.JWT.Keys, key)
	}
	for _, k := range f.APIKeys {
		cfg.APIKeys = append(cfg.APIKeys, auth.APIKey{Name: k.Name, Key: k.Key, Role: k.Role})
	}
	for _, c := range f.Certificates {
		cfg.Certificates = append(cfg.Certificates, auth.Certificate{Name: c.Name, Role: c.Role})
	}
	cfg.Roles = f.Roles
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("--auth-file %s: %w", path, err)
	}
	if len(cfg.JWT.Keys) == 0 && len(cfg.APIKeys) == 0 && len(cfg.Certificates) == 0 {
		return cfg, errors.New("--auth-file " + path + ": no JWT keys, API keys or certificates: nobody could call the gateway")
	}
	return cfg, nil
}
