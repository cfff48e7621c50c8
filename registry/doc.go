// Package registry is Cairn's schema registry server: the core (subjects,
// versions, schemas by global id, compatibility levels and modes), its SQL
// store, the compatibility checks (package compat) and two thin APIs over
// the core, Confluent's REST API and cairn.registry.v1.RegistryService over
// gRPC, served on one address.
//
// What a registry's callers need (the registered Type, the caching Client,
// Remote, the compiled Schema and its Error) is in package regclient, which
// this package imports and which never imports it: the gateway and the
// workers link the client, not the store. A *Registry is a regclient.Source
// and a regclient.Registrar, so a process that runs the registry reads it
// in process.
package registry
