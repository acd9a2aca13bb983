package sqlstore

import "github.com/mfakit/mfa/sqlstore/internal/queries"

// Exported for the tests of package sqlstore_test.

// UserLock returns the keys of the PostgreSQL advisory lock that
// serialises the user's transactions, for tests that hold it from another
// session.
func UserLock(userID string) (class, key int32) { return userLockClass, userLockKey(userID) }

// PostgreSQLQueries returns every query the store sends to PostgreSQL on a
// request's path (all but migrations and Cleanup), by name, with the
// recovery code insert for a set of codes codes.
func PostgreSQLQueries(codes int) map[string]string {
	m := map[string]string{
		"LoadUser":             queries.LoadUserPostgreSQL,
		"DeletePendingDevices": queries.DeletePendingDevices,
		"VerifiedDeviceExists": queries.VerifiedDeviceExists,
		"InsertDevice":         queries.InsertDevice,
		"VerifyDevice":         queries.VerifyDevice,
		"DeviceVerified":       queries.DeviceVerified,
		"AcceptStep":           queries.AcceptStepPostgreSQL,
		"AcceptStepZero":       queries.AcceptStepZeroLockoutPostgreSQL,
		"AcceptStepOutcome":    queries.AcceptStepOutcome,
		"UpdateDeviceSecret":   queries.UpdateDeviceSecret,
		"DeleteDevice":         queries.DeleteDevice,
		"DeleteCodes":          queries.DeleteCodes,
		"AnyVerifiedDevice":    queries.AnyVerifiedDevice,
		"UpsertCodeSet":        queries.UpsertCodeSet,
		"DeleteCodeSet":        queries.DeleteCodeSet,
		"InsertCodes":          queries.InsertCodes(codes),
		"ConsumeCode":          queries.ConsumeCode,
		"CountCodes":           queries.CountCodes,
		"AcknowledgeCodes":     queries.AcknowledgeCodes,
		"InsertToken":          queries.InsertTokenPostgreSQL,
		"Token":                queries.Token,
		"ConsumeToken":         queries.ConsumeToken,
		"DeleteUserTokens":     queries.DeleteUserTokens,
		"Lockout":              queries.Lockout,
		"LockoutForUpdate":     queries.LockoutForUpdatePostgreSQL,
		"SwapLockoutFromZero":  queries.SwapLockoutFromZero,
		"SwapLockout":          queries.SwapLockout,
		"ResetLockout":         queries.ResetLockout,
	}
	for i, q := range queries.DeleteUser {
		m["DeleteUser"+string(rune('0'+i))] = q
	}
	return m
}
