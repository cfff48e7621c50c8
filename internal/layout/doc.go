// Package layout holds no code: its tests check that Cairn's packages
// depend on each other only in the directions DESIGN.md allows: the gateway
// links the registry's client (registry/regclient), never its server or a
// SQL driver; the workers runtime knows no hunt; only internal/kafkax
// imports confluent-kafka-go.
package layout
