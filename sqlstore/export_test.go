package sqlstore

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
		"LoadUser":             loadUserPostgreSQL,
		"DeletePendingDevices": deletePendingDevicesQuery,
		"VerifiedDeviceExists": verifiedDeviceExistsQuery,
		"InsertDevice":         insertDeviceQuery,
		"VerifyDevice":         verifyDeviceQuery,
		"DeviceVerified":       deviceVerifiedQuery,
		"AcceptStep":           acceptStepPostgreSQL,
		"AcceptStepZero":       acceptStepZeroLockoutPostgreSQL,
		"AcceptStepOutcome":    acceptStepOutcomeQuery,
		"UpdateDeviceSecret":   updateDeviceSecretQuery,
		"DeleteDevice":         deleteDeviceQuery,
		"DeleteCodes":          deleteCodesQuery,
		"AnyVerifiedDevice":    anyVerifiedDeviceQuery,
		"UpsertCodeSet":        upsertCodeSetQuery,
		"DeleteCodeSet":        deleteCodeSetQuery,
		"InsertCodes":          insertCodesQuery(codes),
		"ConsumeCode":          consumeCodeQuery,
		"CountCodes":           countCodesQuery,
		"AcknowledgeCodes":     acknowledgeCodesQuery,
		"InsertToken":          insertTokenPostgreSQL,
		"Token":                tokenQuery,
		"ConsumeToken":         consumeTokenQuery,
		"DeleteUserTokens":     deleteUserTokensQuery,
		"Lockout":              lockoutQuery,
		"LockoutForUpdate":     lockoutForUpdatePostgreSQL,
		"SwapLockoutFromZero":  swapLockoutFromZeroQuery,
		"SwapLockout":          swapLockoutQuery,
		"ResetLockout":         resetLockoutQuery,
	}
	for i, q := range deleteUserQueries {
		m["DeleteUser"+string(rune('0'+i))] = q
	}
	return m
}
