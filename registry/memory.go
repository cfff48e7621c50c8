package registry

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// Memory is a registry held in memory, seeded at start-up. It registers each
// file under the record-name strategy's subject for its first message and
// each dependency under its import path, as Confluent clients expect.
//
// Memory is safe for concurrent use.
type Memory struct {
	mu     sync.RWMutex
	files  *protoregistry.Files // registered files, built from their descriptor protos
	byPath map[string]int32     // file path -> schema id
	byID   map[int32]protoreflect.FileDescriptor
	types  map[protoreflect.FullName]*Type
	nextID int32
}

// NewMemory returns a registry holding files and, first, everything they
// import.
func NewMemory(files ...protoreflect.FileDescriptor) (*Memory, error) {
	m := &Memory{
		files:  new(protoregistry.Files),
		byPath: make(map[string]int32),
		byID:   make(map[int32]protoreflect.FileDescriptor),
		types:  make(map[protoreflect.FullName]*Type),
		nextID: 1,
	}
	for _, fd := range files {
		if err := m.registerTree(fd); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// registerTree registers fd's imports, then fd, skipping files already held.
func (m *Memory) registerTree(fd protoreflect.FileDescriptor) error {
	if _, ok := m.byPath[fd.Path()]; ok || builtin(fd.Path()) {
		return nil
	}
	imports := fd.Imports()
	for i := range imports.Len() {
		if err := m.registerTree(imports.Get(i).FileDescriptor); err != nil {
			return err
		}
	}
	_, err := m.Register(protodesc.ToFileDescriptorProto(fd))
	return err
}

// Register stores a schema file and returns its schema id. The file's
// imports must be registered already. Registering the same path again
// returns the id it already has.
func (m *Memory) Register(fdp *descriptorpb.FileDescriptorProto) (int32, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id, ok := m.byPath[fdp.GetName()]; ok {
		return id, nil
	}
	fd, err := protodesc.NewFile(fdp, resolver{m.files})
	if err != nil {
		return 0, fmt.Errorf("register %s: %w", fdp.GetName(), err)
	}
	id := m.nextID
	types := make(map[protoreflect.FullName]*Type)
	var walk func(protoreflect.MessageDescriptors) error
	walk = func(msgs protoreflect.MessageDescriptors) error {
		for i := range msgs.Len() {
			md := msgs.Get(i)
			if md.IsMapEntry() {
				continue
			}
			t, err := newType(id, subjectFor(fd), md)
			if err != nil {
				return err
			}
			types[md.FullName()] = t
			if err := walk(md.Messages()); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(fd.Messages()); err != nil {
		return 0, fmt.Errorf("register %s: %w", fdp.GetName(), err)
	}
	if err := m.files.RegisterFile(fd); err != nil {
		return 0, fmt.Errorf("register %s: %w", fdp.GetName(), err)
	}
	m.nextID++
	m.byPath[fd.Path()] = id
	m.byID[id] = fd
	for name, t := range types {
		m.types[name] = t
	}
	return id, nil
}

// subjectFor names the subject of a file: the full name of its first message
// (record-name strategy) or, for files without messages, its import path.
func subjectFor(fd protoreflect.FileDescriptor) string {
	if fd.Messages().Len() > 0 {
		return string(fd.Messages().Get(0).FullName())
	}
	return fd.Path()
}

// Resolve returns the registered type with the given full name.
func (m *Memory) Resolve(_ context.Context, name protoreflect.FullName) (*Type, error) {
	m.mu.RLock()
	t, ok := m.types[name]
	m.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("message type %q: %w", name, ErrNotFound)
	}
	return t, nil
}

// ResolveID returns the type that a schema id and message indexes name, as
// read from a framed record.
func (m *Memory) ResolveID(_ context.Context, id int32, indexes []int) (*Type, error) {
	m.mu.RLock()
	fd, ok := m.byID[id]
	m.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("schema id %d: %w", id, ErrNotFound)
	}
	md := messageAt(fd, indexes)
	if md == nil {
		return nil, fmt.Errorf("schema id %d (%s) has no message at indexes %v: %w", id, fd.Path(), indexes, ErrNotFound)
	}
	return m.Resolve(context.Background(), md.FullName())
}

// Topics returns the topics that registered events are produced to, sorted.
func (m *Memory) Topics() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var topics []string
	for _, t := range m.types {
		if t.Event != nil && !slices.Contains(topics, t.Event.GetTopic()) {
			topics = append(topics, t.Event.GetTopic())
		}
	}
	slices.Sort(topics)
	return topics
}
