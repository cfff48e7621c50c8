package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Prepared holds statements prepared once on a database, by their text,
// for use in its transactions. SQLite parses every statement it is given
// unless the statement was prepared, and parsing a multi-row statement
// costs about as much as running it; PostgreSQL's driver (pgx) prepares
// and caches each statement text on its own. It is safe for concurrent
// use.
type Prepared struct {
	stmts map[string]*sql.Stmt
}

// Prepare prepares queries on db. Call it while no transaction holds the
// connection (SQLite has one), once the tables the queries name exist.
// On PostgreSQL it prepares nothing: the driver already does.
func (db *DB) Prepare(ctx context.Context, queries []string) (*Prepared, error) {
	p := &Prepared{stmts: make(map[string]*sql.Stmt)}
	if db.Engine != SQLite {
		return p, nil
	}
	for _, q := range queries {
		if _, ok := p.stmts[q]; ok {
			continue
		}
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("prepare %.60q…: %w", q, err), p.Close())
		}
		p.stmts[q] = st
	}
	return p, nil
}

// Close closes the statements.
func (p *Prepared) Close() error {
	if p == nil {
		return nil
	}
	var errs []error
	for _, st := range p.stmts {
		errs = append(errs, st.Close())
	}
	return errors.Join(errs...)
}

// Tx returns tx, whose statements run prepared when their text is among
// p's. p may be nil: then every statement is sent as it is.
func (p *Prepared) Tx(tx *sql.Tx) *PreparedTx { return &PreparedTx{tx: tx, p: p} }

// PreparedTx is a transaction that runs the statements it knows prepared.
// Like a *sql.Tx, it is for one goroutine at a time.
type PreparedTx struct {
	tx *sql.Tx
	p  *Prepared
}

// Tx is the transaction.
func (t *PreparedTx) Tx() *sql.Tx { return t.tx }

// stmt returns the transaction's copy of the statement prepared for
// query, or nil.
func (t *PreparedTx) stmt(ctx context.Context, query string) *sql.Stmt {
	if t.p == nil {
		return nil
	}
	st, ok := t.p.stmts[query]
	if !ok {
		return nil
	}
	return t.tx.StmtContext(ctx, st)
}

// ExecContext runs a statement that returns no rows, as sql.Tx does.
func (t *PreparedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, query, args...)
}

// QueryContext runs a query, as sql.Tx does.
func (t *PreparedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, query, args...)
}

// QueryRowContext runs a query expected to return at most one row, as
// sql.Tx does.
func (t *PreparedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, query, args...)
}

// RowCounts are the row counts of the multi-row statements worth
// preparing: a batch of n rows is written as statements of these sizes
// (SplitRows), a few statements for any n.
var RowCounts = []int{256, 32, 4, 1}

// SplitRows returns the sizes, each one of RowCounts, that add up to n,
// largest first.
func SplitRows(n int) []int {
	var out []int
	for _, c := range RowCounts {
		for ; n >= c; n -= c {
			out = append(out, c)
		}
	}
	return out
}
