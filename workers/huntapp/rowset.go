package huntapp

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/workers/hunt"
)

// rowInsert is a statement that writes many rows at once: its head
// ("INSERT INTO t (a, b, …)"), the PostgreSQL type of each column, and
// its tail ("ON CONFLICT …", or "").
//
// On PostgreSQL the rows go as one array per column to a statement whose
// text never changes ("… SELECT * FROM unnest($1::text[], …) …"): the
// driver prepares it once per connection, the server parses it once, and
// a batch of any size is one round trip. Statements whose text grew with
// the batch ("VALUES ($1, …), ($10, …), …") were parsed, planned and
// prepared anew for nearly every batch. SQLite, in process, takes
// multi-row VALUES statements of the sizes sqldb.SplitRows gives, which
// the app prepares once (sqliteStatements).
type rowInsert struct {
	head  string
	types []string
	tail  string
}

// execer is a *sql.Tx, or a *sqldb.PreparedTx that runs the statements
// prepared for it without parsing them again.
type execer interface {
	querier
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// exec writes args, row after row of len(in.types) values each, in tx.
// Values are string, []byte, or integers (int, int64, uint32).
func (in rowInsert) exec(ctx context.Context, tx execer, engine sqldb.Engine, args []any) error {
	width := len(in.types)
	if len(args) == 0 {
		return nil
	}
	if len(args)%width != 0 {
		return fmt.Errorf("%s: %d values for rows of %d", in.head, len(args), width)
	}
	if engine == sqldb.Postgres {
		cols, err := columns(in.types, args)
		if err != nil {
			return fmt.Errorf("%s: %w", in.head, err)
		}
		_, err = tx.ExecContext(ctx, in.head+` SELECT * FROM `+unnest(in.types, 1)+` `+in.tail, cols...)
		return err
	}
	for _, n := range sqldb.SplitRows(len(args) / width) {
		if _, err := tx.ExecContext(ctx, in.sqlite(n), args[:n*width]...); err != nil {
			return err
		}
		args = args[n*width:]
	}
	return nil
}

// sqlite is the SQLite statement writing n rows.
func (in rowInsert) sqlite(n int) string {
	return in.head + ` VALUES ` + rowMarks(n, len(in.types)) + ` ` + in.tail
}

// rowMarks returns n rows of width SQLite parameter marks: "(?, ?), (?, ?)".
func rowMarks(n, width int) string {
	row := "(" + marks(sqldb.SQLite, 1, width) + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

// unnest returns "unnest($from::t1[], $from+1::t2[], …)", a table of rows
// from one array parameter per column.
func unnest(types []string, from int) string {
	var sb strings.Builder
	sb.WriteString("unnest(")
	for i, t := range types {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "$%d::%s[]", from+i, t)
	}
	sb.WriteByte(')')
	return sb.String()
}

// columns turns rows of values (row-major) into one typed slice per
// column, as pgx encodes arrays: []string for text, []int64 for integers,
// [][]byte for bytea.
func columns(types []string, args []any) ([]any, error) {
	width, rows := len(types), len(args)/len(types)
	out := make([]any, width)
	for c, t := range types {
		switch t {
		case "text":
			col := make([]string, rows)
			for r := range rows {
				s, ok := args[r*width+c].(string)
				if !ok {
					return nil, fmt.Errorf("column %d: %T is not text", c+1, args[r*width+c])
				}
				col[r] = s
			}
			out[c] = col
		case "bytea":
			col := make([][]byte, rows)
			for r := range rows {
				b, ok := args[r*width+c].([]byte)
				if !ok {
					return nil, fmt.Errorf("column %d: %T is not bytea", c+1, args[r*width+c])
				}
				col[r] = b
			}
			out[c] = col
		case "bigint":
			col := make([]int64, rows)
			for r := range rows {
				switch v := args[r*width+c].(type) {
				case int64:
					col[r] = v
				case int:
					col[r] = int64(v)
				case uint32:
					col[r] = int64(v)
				case int32:
					col[r] = int64(v)
				default:
					return nil, fmt.Errorf("column %d: %T is not an integer", c+1, v)
				}
			}
			out[c] = col
		default:
			return nil, fmt.Errorf("column %d: unknown type %q", c+1, t)
		}
	}
	return out, nil
}

// sqliteStatements are the texts of the SQLite statements a batch sends
// most: each multi-row write at each of sqldb.RowCounts rows, the loads of
// entrants, and the rank counts for each shape of key.
func sqliteStatements() []string {
	var out []string
	for _, n := range sqldb.RowCounts {
		for _, in := range []rowInsert{insertDefs, upsertCounters, upsertPlaced, upsertStreaks, upsertNames, insertRefusals, upsertRanks} {
			out = append(out, in.sqlite(n))
		}
		out = append(out, loadEntrantsSQLite(n))
	}
	out = append(out, loadHuntsSQL(1), finishersAheadSQLite(finishersAfterLimit)) // a batch is mostly one hunt's
	// The rank counts' text depends on the length of the entrant's key and
	// on how ties are counted: a finisher's key; an unfinished entrant's
	// key of each length, whole; and one cut at rankKeyLen bytes.
	shapes := []hunt.Entrant{{PlayerID: "x", CompletedAt: time.Unix(1, 0)}}
	for n := range rankKeyLen + 1 {
		shapes = append(shapes, hunt.Entrant{PlayerID: strings.Repeat("x", n)})
	}
	for _, e := range shapes {
		var sb strings.Builder
		var args []any
		sb.WriteString("SELECT ")
		countAheadExpr(&sb, &args, sqldb.SQLite, "h", &e)
		out = append(out, sb.String())
	}
	return out
}
