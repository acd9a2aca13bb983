package queries

import (
	"fmt"
	"strings"
)

// The recovery code queries; InsertCodes builds the INSERT for a set of
// codes of any size.
const (
	DeleteCodes = "DELETE FROM mfa_recovery_codes WHERE user_id = $1"

	AnyVerifiedDevice = "SELECT EXISTS (SELECT 1 FROM mfa_devices WHERE user_id = $1 AND verified)"

	UpsertCodeSet = `INSERT INTO mfa_recovery_code_sets (user_id, key_id, sealed, created_at, format)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (user_id) DO UPDATE SET key_id = excluded.key_id, sealed = excluded.sealed, created_at = excluded.created_at,
			format = excluded.format`

	DeleteCodeSet = "DELETE FROM mfa_recovery_code_sets WHERE user_id = $1"

	ConsumeCode = "DELETE FROM mfa_recovery_codes WHERE user_id = $1 AND hash = $2"

	CountCodes = "SELECT count(*) FROM mfa_recovery_codes WHERE user_id = $1"

	AcknowledgeCodes = "UPDATE mfa_recovery_code_sets SET sealed = NULL WHERE user_id = $1 AND sealed IS NOT NULL AND (created_at IS NULL OR created_at <= $2)"
)

// InsertCodes returns the INSERT of n hashes of one user: $1 is the
// user ID, $2 ... $n+1 the hashes. A hash given twice is stored once: a
// set of codes has no use for duplicates.
func InsertCodes(n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO mfa_recovery_codes (user_id, hash) VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "($1, $%d)", i+2)
	}
	b.WriteString(" ON CONFLICT DO NOTHING")
	return b.String()
}
