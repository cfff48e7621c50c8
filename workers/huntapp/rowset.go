package huntapp

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/cairnhq/cairn/internal/sqldb"
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
// multi-row VALUES statements of at most insertRows rows.
type rowInsert struct {
	head  string
	types []string
	tail  string
}

// insertRows bounds the rows of one SQLite statement.
const insertRows = 500

// exec writes args, row after row of len(in.types) values each, in tx.
// Values are string, []byte, or integers (int, int64, uint32).
func (in rowInsert) exec(ctx context.Context, tx *sql.Tx, engine sqldb.Engine, args []any) error {
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
	for len(args) > 0 {
		n := min(len(args)/width, insertRows)
		var sb strings.Builder
		sb.WriteString(in.head)
		sb.WriteString(` VALUES `)
		for r := range n {
			if r > 0 {
				sb.WriteString(", ")
			}
			sb.WriteByte('(')
			sb.WriteString(marks(engine, 1+r*width, width))
			sb.WriteByte(')')
		}
		sb.WriteByte(' ')
		sb.WriteString(in.tail)
		if _, err := tx.ExecContext(ctx, sb.String(), args[:n*width]...); err != nil {
			return err
		}
		args = args[n*width:]
	}
	return nil
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
