package mfa

import (
	"context"
	"errors"
	"time"
)

// Store is where mfakit keeps its state. It is a few small interfaces so
// that each concern's contract reads on its own; an implementation provides
// all of them. mfakit ships memstore (in memory, one process) and sqlstore
// (PostgreSQL or SQLite); mfatest.TestStore checks any implementation
// against the contract below.
//
// The contract, for every method:
//   - ctx comes first; a cancelled ctx makes the call fail with an error
//     that wraps ctx.Err() and changes nothing.
//   - "Atomic" means the method's check and its write happen as one step:
//     of any number of concurrent callers (in one process or many), the
//     outcome is as if they had run one at a time.
//   - Not found is reported as documented on each method: a zero value, or
//     one of mfakit's sentinel errors. Any other error is a store failure,
//     which mfakit wraps in ErrStore and never reports as a wrong code.
//   - Records and slices passed in belong to the store afterwards, and the
//     ones it returns may be shared with it: neither side modifies them.
//   - Times are compared with the now or at passed in, never the store's
//     own clock, so that tests can inject a clock.
//   - Every operation names the user whose data it touches (a record's
//     UserID counts), and touches no other user's, except Cleanup, which
//     sweeps everything. So a store may be sharded by user ID: see
//     docs/DESIGN.md.
type Store interface {
	UserStore
	DeviceStore
	RecoveryCodeStore
	TokenStore
	LockoutStore
	PasskeyStore
}

// UserStore reads and removes all of one user's state.
type UserStore interface {
	// LoadUser returns everything kept for userID as of now: the user's
	// devices (verified ones, and pending ones whose ExpiresAt is after
	// now), recovery code set and lockout state. An unknown user reads as
	// the zero UserState with a nil error.
	LoadUser(ctx context.Context, userID string, now time.Time) (UserState, error)

	// DeleteUser atomically removes the user's devices, recovery codes,
	// MFA tokens, lockout state and login ceremony. Deleting an unknown user is a no-op.
	DeleteUser(ctx context.Context, userID string) error
}

// DeviceStore keeps devices: TOTP devices and passkeys.
type DeviceStore interface {
	// InsertPendingDevice atomically adds d, a pending device, and removes
	// every other pending device of d.UserID. If the user already has
	// limit verified devices of d.Type it changes nothing and returns
	// ErrDeviceLimit. A device ID is unique across users.
	InsertPendingDevice(ctx context.Context, d DeviceRecord, limit int) error

	// ImportDevice atomically adds d, a verified device brought from
	// another system, removes the user's pending devices, and, when codes
	// holds hashes, makes codes the user's recovery code set. If the user
	// already has limit verified devices of d.Type it changes nothing and
	// returns ErrDeviceLimit, and when d holds a passkey credential whose
	// ID a device of any user holds, it changes nothing and returns
	// ErrPasskeyRegistered. A device ID is unique across users.
	//
	// The pending devices go because one begun while the user had no
	// factor needed no MFA token; left, it could be verified after the
	// import as a further factor that no token authorised.
	ImportDevice(ctx context.Context, d DeviceRecord, codes RecoveryCodeSet, limit int) error

	// VerifyDevice atomically turns a pending device into a verified one,
	// provided the user's lockout state still equals lk: Verified set,
	// VerifiedAt and LastUsedAt set to at, LastStep set to step, ExpiresAt
	// cleared; when codes holds hashes, the user's recovery code set
	// replaced by codes; and the user's lockout state reset to the zero
	// Lockout. When the lockout state differs from lk it changes nothing
	// and returns ErrLockoutChanged. Otherwise it returns ErrDeviceNotFound
	// when no such device exists or it expired (its ExpiresAt is not after
	// at), ErrCodeReused when the device is already verified, so that of
	// concurrent verifications one wins, and ErrDeviceLimit when the user
	// already has limit verified devices of its type.
	VerifyDevice(ctx context.Context, userID, deviceID string, step int64, at time.Time, codes RecoveryCodeSet, lk Lockout, limit int) error

	// SetDefaultDevice atomically makes the user's verified device the
	// default one and every other device of the user not the default. It
	// returns ErrDeviceNotFound when the user has no verified device with
	// that ID.
	SetDefaultDevice(ctx context.Context, userID, deviceID string) error

	// AcceptStep atomically records a successful code at time step step on
	// a verified device, provided the user's lockout state still equals lk:
	// if step is greater than the device's LastStep it sets LastStep to step
	// and LastUsedAt to at, and resets the user's lockout state to the zero
	// Lockout; otherwise it changes nothing and returns ErrCodeReused (RFC
	// 6238 §5.2: a code is accepted once). When the lockout state differs
	// from lk it changes nothing and returns ErrLockoutChanged, whatever the
	// step. It returns ErrDeviceNotFound when the user has no verified
	// device with that ID.
	//
	// When lk is the zero Lockout there is nothing to reset, and the store
	// may compare the lockout state as of the start of the operation
	// rather than under a lock: a failure counted meanwhile is then ordered
	// after this success and kept. A concurrent reader may see that failure
	// before the new step; the step's own condition still refuses the code
	// a second time.
	AcceptStep(ctx context.Context, userID, deviceID string, step int64, at time.Time, lk Lockout) error

	// UpdateDeviceSecret replaces the device's sealed secret, for key
	// rotation. It returns ErrDeviceNotFound when there is no such device.
	UpdateDeviceSecret(ctx context.Context, userID, deviceID string, secret []byte) error

	// DeleteDevice atomically removes the device and all of the user's MFA
	// tokens, so that no token outlives the factor that issued it; when it
	// was the user's last verified device, the user's recovery codes go
	// with it, since they stand in for a device. Deleting an absent device
	// is a no-op.
	DeleteDevice(ctx context.Context, userID, deviceID string) error
}

// RecoveryCodeStore keeps each user's one set of recovery codes.
type RecoveryCodeStore interface {
	// ReplaceRecoveryCodes atomically replaces the user's recovery code set
	// with set, invalidating every old code. It returns ErrNoDevice and
	// changes nothing when the user has no verified device.
	ReplaceRecoveryCodes(ctx context.Context, userID string, set RecoveryCodeSet) error

	// ConsumeRecoveryCode atomically removes the code whose keyed hash is
	// hash from the user's set, resets the user's lockout state to the zero
	// Lockout, and returns how many codes remain, provided the lockout state
	// still equals lk; otherwise it changes nothing and returns
	// ErrLockoutChanged. When the set holds no such hash it changes nothing
	// and returns ErrInvalidCode: of concurrent callers with the same code
	// exactly one succeeds.
	ConsumeRecoveryCode(ctx context.Context, userID string, hash [HashSize]byte, at time.Time, lk Lockout) (remaining int, err error)

	// AcknowledgeRecoveryCodes drops the sealed plaintext of the user's
	// set (Sealed becomes nil), keeping the hashes, provided the set's
	// CreatedAt is not after notAfter: a set made since the caller read
	// the user keeps its plaintext. It is a no-op when there is nothing to
	// acknowledge.
	AcknowledgeRecoveryCodes(ctx context.Context, userID string, notAfter time.Time) error
}

// TokenStore keeps MFA tokens by their user and the SHA-256 hash of their
// value.
type TokenStore interface {
	// InsertToken stores t for t.UserID. Hashes are unique. It may also
	// remove the user's tokens whose ExpiresAt is not after t.CreatedAt,
	// which no caller can use any more.
	InsertToken(ctx context.Context, t TokenRecord) error

	// Token returns userID's token with that hash, expired or not (so that
	// a caller can tell "expired" from "unknown"), or ErrTokenInvalid when
	// the user has none: another user's token with that hash reads as
	// none.
	Token(ctx context.Context, userID string, hash [HashSize]byte) (TokenRecord, error)

	// ConsumeToken atomically removes userID's token with that hash if it
	// exists and its ExpiresAt is after now; otherwise it returns
	// ErrTokenInvalid. Of concurrent callers exactly one succeeds.
	ConsumeToken(ctx context.Context, userID string, hash [HashSize]byte, now time.Time) error
}

// LockoutStore keeps the count of consecutive failed attempts per user,
// shared by every instance of a service, so that throttling (RFC 4226 §7.3,
// NIST SP 800-63B §5.2.2) holds across them.
type LockoutStore interface {
	// Lockout returns the user's lockout state; the zero Lockout when none
	// is kept.
	Lockout(ctx context.Context, userID string) (Lockout, error)

	// SwapLockout atomically sets the user's state to next if it still
	// equals old (both Failures and LastFailure; a user with no state has
	// the zero Lockout), and reports whether it did. Comparing both fields
	// keeps a stale caller from passing after a reset and a new run of the
	// same number of failures.
	SwapLockout(ctx context.Context, userID string, old, next Lockout) (bool, error)
}

// PasskeyStore keeps what passkeys need beyond a device record. A pending
// passkey device is an ordinary pending device (InsertPendingDevice) whose
// Secret holds the sealed registration ceremony; a verified one holds its
// credential in DeviceRecord.Passkey. A login ceremony in progress is a
// ChallengeRecord, at most one per user.
type PasskeyStore interface {
	// VerifyPasskey atomically turns the user's pending passkey device into
	// a verified one holding cred, as VerifyDevice does for a TOTP device
	// and with the same errors, with Passkey set to cred and Secret cleared;
	// LastUsedAt stays zero. It also returns ErrPasskeyRegistered, changing
	// nothing, when a device of any user already holds a credential with
	// cred.ID (WebAuthn §7.1 step 22).
	VerifyPasskey(ctx context.Context, userID, deviceID string, cred PasskeyCredential, at time.Time, codes RecoveryCodeSet, lk Lockout, limit int) error

	// AcceptPasskey atomically records an assertion verified for the
	// user's passkey device, provided the user's lockout state still equals
	// lk: the credential's SignCount and BackupState set to the ones given,
	// LastUsedAt set to at, and the user's lockout state reset to the zero
	// Lockout. When the lockout state differs from lk it changes nothing and
	// returns ErrLockoutChanged. Otherwise it returns ErrDeviceNotFound when
	// the user has no verified passkey device with that ID, and
	// ErrCodeReused, changing nothing, when signCount does not follow the
	// stored count (WebAuthn §6.1.1): it follows when both are 0 (the
	// authenticator keeps no counter) or when it is greater. So of
	// concurrent callers with the same count greater than 0 at most one
	// succeeds; an authenticator without a counter is kept from replays by
	// the single use of each challenge (TakeChallenge). When lk is the
	// zero Lockout the store may compare the lockout state as of the start
	// of the operation, as AcceptStep may: a failure counted meanwhile is
	// then ordered after this success and kept.
	AcceptPasskey(ctx context.Context, userID, deviceID string, signCount uint32, backupState bool, at time.Time, lk Lockout) error

	// PutChallenge stores c as c.UserID's login ceremony in progress,
	// replacing the one the user had.
	PutChallenge(ctx context.Context, c ChallengeRecord) error

	// TakeChallenge atomically removes the user's login ceremony and
	// returns it if its ExpiresAt is after now. When the user has none, or
	// it expired (it is removed all the same), it returns
	// ErrChallengeInvalid. Of concurrent callers at most one gets it.
	TakeChallenge(ctx context.Context, userID string, now time.Time) (ChallengeRecord, error)
}

// ErrLockoutChanged is returned by the store operations that record a
// successful attempt when the user's lockout state is no longer the one
// the caller checked. mfakit then reads the state again and retries; it
// never reaches an application.
var ErrLockoutChanged = errors.New("mfa: lockout state changed")

// Cleaner is implemented by stores that can remove expired records in
// bulk; see [MFA.Cleanup].
type Cleaner interface {
	// Cleanup removes the tokens, the pending devices and the login
	// ceremonies whose ExpiresAt is not after now, and lockout records
	// with no failures, which reads already treat as absent. It also drops
	// the sealed plaintext of every recovery code set whose CreatedAt is
	// not after sealedNotAfter, as AcknowledgeRecoveryCodes does: such a
	// set can no longer be shown, and its plaintext is not kept longer
	// than needed.
	Cleanup(ctx context.Context, now, sealedNotAfter time.Time) error
}

// HashSize is the size of the hashes a store keeps: HMAC-SHA256 of a
// recovery code, SHA-256 of an MFA token.
const HashSize = 32

// UserState is all of one user's stored state.
type UserState struct {
	Devices       []DeviceRecord
	RecoveryCodes RecoveryCodeSet
	Lockout       Lockout
}

// DeviceRecord is a device as stored. Secret is sealed by the [Keyring]:
// the TOTP secret of a TOTP device, the registration ceremony of a pending
// passkey device; their plaintext is never given to a store.
type DeviceRecord struct {
	ID          string
	UserID      string
	Type        DeviceType
	Alias       string
	AccountName string // the label in the authenticator app
	Secret      []byte // sealed TOTP secret
	Verified    bool
	CreatedAt   time.Time
	ExpiresAt   time.Time // pending devices only; zero once verified
	VerifiedAt  time.Time // zero while pending
	LastUsedAt  time.Time // zero until the first accepted code
	LastStep    int64     // the last accepted TOTP time step; 0 for none
	Default     bool      // the device the user chose to be asked for first

	// Passkey is a verified passkey device's credential; nil for any other
	// device.
	Passkey *PasskeyCredential

	// The TOTP parameters the device was enrolled with (RFC 6238): its
	// algorithm, code length and time step, a whole number of seconds.
	// Zero values, as in devices stored by mfakit 0.1, stand for the
	// running TOTPConfig's.
	Algorithm Algorithm
	Digits    int
	Period    time.Duration
}

// RecoveryCodeSet is a user's current recovery codes as stored: keyed hashes
// of the codes not yet used and, until the user acknowledges them, the
// plaintext sealed by the [Keyring].
type RecoveryCodeSet struct {
	KeyID     string           // the key whose hash key made Hashes
	Hashes    [][HashSize]byte // HMAC-SHA256 of each unused code
	Sealed    []byte           // sealed plaintext; nil once acknowledged
	CreatedAt time.Time
	// Format is how a code typed in is read before it is hashed:
	// RecoveryFormatMFAKit for mfakit's own codes, RecoveryFormatImported
	// for codes imported from another system.
	Format RecoveryFormat
}

// Pending reports whether the set waits for acknowledgement.
func (s RecoveryCodeSet) Pending() bool { return s.Sealed != nil }

// TokenRecord is an MFA token as stored: the SHA-256 of its value, never
// the value.
type TokenRecord struct {
	Hash      [HashSize]byte
	UserID    string
	SingleUse bool
	Scopes    []string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// ChallengeRecord is a passkey login ceremony in progress: what
// BeginPasskeyAuthentication handed to the browser, sealed by the
// [Keyring], for AuthenticatePasskey to check the answer against once.
type ChallengeRecord struct {
	UserID    string
	Sealed    []byte // the sealed ceremony session
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Lockout is a user's run of consecutive failed attempts. The zero
// Lockout is a user without failures.
type Lockout struct {
	Failures    int
	LastFailure time.Time // zero when Failures is
}

// Equal reports whether l and o are the same state.
func (l Lockout) Equal(o Lockout) bool {
	return l.Failures == o.Failures && l.LastFailure.Equal(o.LastFailure)
}
