// Package clustertest is Cairn's integration suite against a real Apache
// Kafka cluster. It holds only tests: they build the cairn binary, run
// `cairn registry`, `cairn gateway` and `cairn worker` as subprocesses, as
// operators run them, talk to them through the generated gRPC stubs, and
// check Kafka with an independent client (franz-go's kgo and kadm).
//
// The suite runs when CAIRN_KAFKA_BROKERS names a cluster of three brokers;
// otherwise every test is skipped with the reason. `make test-kafka` starts
// the three-node cluster of scripts/kafka-cluster, runs the suite and stops
// the cluster. The fault tests kill and restart brokers through that script,
// so they run only against the cluster it started.
//
// Workers keep their state in a PostgreSQL schema of their own on the server
// named by CAIRN_TEST_POSTGRES_URL (default
// postgres://postgres@127.0.0.1:5432/test); the registry uses a SQLite file.
package clustertest
