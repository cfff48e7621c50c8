package regclient

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Source is where a Client reads schemas: the registry itself in process,
// or a remote registry.
type Source interface {
	// Version returns a subject's version; -1 is the latest live one.
	Version(ctx context.Context, subject string, version int, deleted bool) (*SubjectVersion, error)
	// SchemaByID returns the schema with a global id.
	SchemaByID(ctx context.Context, id int32) (*Schema, error)
}

// Client resolves message types for producers and consumers, caching what
// it learns: schemas by id for good (they never change), and a type name's
// latest schema for MaxAge, after which the next Resolve checks for a newer
// version, so a schema registered while the gateway runs takes effect
// within MaxAge.
//
// Client is safe for concurrent use.
type Client struct {
	src    Source
	maxAge time.Duration

	mu       sync.RWMutex
	byName   map[protoreflect.FullName]nameEntry
	fetching map[protoreflect.FullName]*fetch
	byID     map[int32]*Schema
	types    map[typeKey]*Type
}

type nameEntry struct {
	t       *Type
	checked time.Time
}

type typeKey struct {
	id   int32
	name protoreflect.FullName
}

// NewClient returns a client reading from src. maxAge 0 means one second.
func NewClient(src Source, maxAge time.Duration) *Client {
	if maxAge <= 0 {
		maxAge = time.Second
	}
	return &Client{
		src:      src,
		maxAge:   maxAge,
		byName:   make(map[protoreflect.FullName]nameEntry),
		fetching: make(map[protoreflect.FullName]*fetch),
		byID:     make(map[int32]*Schema),
		types:    make(map[typeKey]*Type),
	}
}

// Resolve returns the type named name as the latest live version of its
// subject (record-name strategy: the subject is the type's full name)
// declares it.
func (c *Client) Resolve(ctx context.Context, name protoreflect.FullName) (*Type, error) {
	c.mu.RLock()
	e, ok := c.byName[name]
	c.mu.RUnlock()
	if ok && time.Since(e.checked) < c.maxAge {
		return e.t, nil
	}
	// One caller asks the registry for a name at a time. While it does,
	// the others keep the type known so far, or, when there is none yet,
	// wait for its answer: a busy gateway asks once per MaxAge, not once
	// per event in flight.
	c.mu.Lock()
	if e, ok = c.byName[name]; ok && time.Since(e.checked) < c.maxAge {
		c.mu.Unlock()
		return e.t, nil
	}
	f, busy := c.fetching[name]
	if !busy {
		f = &fetch{done: make(chan struct{})}
		c.fetching[name] = f
		// The question outlives the caller who asked it first: the
		// others may be waiting for its answer.
		go c.refresh(context.WithoutCancel(ctx), name, f, e, ok)
	}
	c.mu.Unlock()
	if ok {
		if !busy {
			select {
			case <-f.done:
				return f.t, f.err
			case <-ctx.Done():
			}
		}
		return e.t, nil
	}
	select {
	case <-f.done:
		return f.t, f.err
	case <-ctx.Done():
		return nil, fmt.Errorf("resolve %s: %w", name, ctx.Err())
	}
}

// fetch is one question to the registry about a name's latest type, which
// the callers that arrive meanwhile share.
type fetch struct {
	done chan struct{} // closed once t or err is set
	t    *Type
	err  error
}

// fetchTimeout bounds one question to the registry.
const fetchTimeout = 10 * time.Second

// refresh asks the registry for the type name's subject declares now, and
// records the answer in f and the cache. old is the type known so far, if
// known.
func (c *Client) refresh(ctx context.Context, name protoreflect.FullName, f *fetch, old nameEntry, known bool) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	f.t, f.err = c.latest(ctx, name)
	c.mu.Lock()
	delete(c.fetching, name)
	switch {
	case f.err == nil:
		c.byName[name] = nameEntry{t: f.t, checked: time.Now()}
	case known && !IsNotFound(f.err):
		// The registry is unreachable: keep serving what we know, and
		// ask again after MaxAge rather than on every call.
		c.byName[name] = nameEntry{t: old.t, checked: time.Now()}
		f.t, f.err = old.t, nil
	}
	c.mu.Unlock()
	close(f.done)
}

// latest reads the type name's subject declares now.
func (c *Client) latest(ctx context.Context, name protoreflect.FullName) (*Type, error) {
	sv, err := c.src.Version(ctx, string(name), -1, false)
	if err != nil {
		if IsNotFound(err) {
			return nil, fmt.Errorf("message type %q: %w", name, ErrNotFound)
		}
		return nil, fmt.Errorf("resolve %s: %w", name, err)
	}
	d := findMessage(sv.Schema.File, name)
	if d == nil {
		return nil, fmt.Errorf("message type %q: subject %s version %d does not declare it: %w", name, sv.Subject, sv.Version, ErrNotFound)
	}
	t, err := c.typeOf(sv.Schema, d)
	if err != nil {
		return nil, err
	}
	named := *t
	named.Subject = sv.Subject
	return &named, nil
}

// ResolveID returns the type that a schema id and message indexes name, as
// read from a framed record.
func (c *Client) ResolveID(ctx context.Context, id int32, indexes []int) (*Type, error) {
	c.mu.RLock()
	s, ok := c.byID[id]
	c.mu.RUnlock()
	if !ok {
		var err error
		if s, err = c.src.SchemaByID(ctx, id); err != nil {
			if IsNotFound(err) {
				return nil, fmt.Errorf("schema id %d: %w", id, ErrNotFound)
			}
			return nil, fmt.Errorf("schema id %d: %w", id, err)
		}
		c.mu.Lock()
		c.byID[id] = s
		c.mu.Unlock()
	}
	md := messageAt(s.File, indexes)
	if md == nil {
		return nil, fmt.Errorf("schema id %d has no message at indexes %v: %w", id, indexes, ErrNotFound)
	}
	return c.typeOf(s, md)
}

// typeOf builds (once) the type of a message of a schema.
func (c *Client) typeOf(s *Schema, md protoreflect.MessageDescriptor) (*Type, error) {
	key := typeKey{s.ID, md.FullName()}
	c.mu.RLock()
	t, ok := c.types[key]
	c.mu.RUnlock()
	if ok {
		return t, nil
	}
	t, err := newType(s.ID, "", md)
	if err != nil {
		return nil, fmt.Errorf("schema %d: %w", s.ID, err)
	}
	c.mu.Lock()
	if have, ok := c.types[key]; ok {
		t = have
	} else {
		c.types[key] = t
	}
	c.mu.Unlock()
	return t, nil
}

func findMessage(fd protoreflect.FileDescriptor, name protoreflect.FullName) protoreflect.MessageDescriptor {
	var found protoreflect.MessageDescriptor
	walkMessages(fd.Messages(), func(md protoreflect.MessageDescriptor) {
		if found == nil && md.FullName() == name {
			found = md
		}
	})
	return found
}

// pingSubject is a subject nobody registers: looking it up costs the
// source one cheap query.
const pingSubject = "cairn.registry.ping"

// Ping checks that the client's source answers, for readiness probes.
func (c *Client) Ping(ctx context.Context) error {
	if _, err := c.src.Version(ctx, pingSubject, -1, false); err != nil && !IsNotFound(err) {
		return fmt.Errorf("registry: %w", err)
	}
	return nil
}
