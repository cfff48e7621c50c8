// Package compat judges whether a new protobuf schema may follow the versions
// already registered under a subject, as the Confluent Schema Registry judges
// it for protobuf.
//
// A schema is a whole .proto file (a protoreflect.FileDescriptor). Every
// message in the file is compared, nested messages included; messages are
// matched by name and fields by number, so renaming a field is compatible.
// The rules are Confluent's: the same changes are incompatible, under the same
// kind names and paths (#/HuntCreated/3).
//
// Each rule is written once, as the changes from a writer schema (the one the
// data was written with) to a reader schema (the one a consumer reads it
// with). A Level decides which way round the candidate and the existing
// versions are compared: BACKWARD makes the candidate the reader, FORWARD makes
// it the writer, FULL checks both.
package compat
