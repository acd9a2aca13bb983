// Package memstore is an in-memory [mfa.Store] for tests, examples and
// single-process services that accept losing MFA state on restart. State
// lives in one map behind one lock; every check-then-set of the Store
// contract runs under the write lock, so it is atomic within the process.
// Use sqlstore when several processes share state or it must survive a
// restart.
package memstore

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/mfakit/mfa"
)

// Store is an in-memory mfa.Store. The zero value is not usable; call New.
type Store struct {
	mu     sync.RWMutex
	users  map[string]*user
	tokens map[[mfa.HashSize]byte]*mfa.TokenRecord
}

// user is one user's state. LoadUser copies the device records out, so
// they are changed in place. The other slices are never modified once
// stored: a change stores a new slice, so LoadUser can hand them out
// without copying.
type user struct {
	devices []mfa.DeviceRecord
	codes   mfa.RecoveryCodeSet
	lockout mfa.Lockout
	tokens  [][mfa.HashSize]byte
	// first holds the device of a user with one, so that the device is
	// in the same allocation, and the same few cache lines, as the rest.
	first [1]mfa.DeviceRecord
}

// dropStaleFirst clears u.first once u.devices has moved to an array of
// its own, so that a copy of a deleted device, its sealed secret included,
// does not stay behind.
func (u *user) dropStaleFirst() {
	if cap(u.devices) == 0 || &u.devices[:1][0] != &u.first[0] {
		clear(u.first[:])
	}
}

func (u *user) empty() bool {
	return len(u.devices) == 0 && u.codes.Hashes == nil && u.codes.Sealed == nil && u.lockout.Failures == 0 && len(u.tokens) == 0
}

var (
	_ mfa.Store   = (*Store)(nil)
	_ mfa.Cleaner = (*Store)(nil)
)

// New returns an empty store.
func New() *Store {
	return &Store{
		users:  make(map[string]*user),
		tokens: make(map[[mfa.HashSize]byte]*mfa.TokenRecord),
	}
}

// userLocked returns the user's state, creating it when create is set.
// The caller holds s.mu for writing when create is set.
func (s *Store) userLocked(id string, create bool) *user {
	u := s.users[id]
	if u == nil && create {
		u = &user{}
		u.devices = u.first[:0]
		s.users[id] = u
	}
	return u
}

// dropIfEmpty forgets a user with no state left, so that memory follows
// the number of enrolled users.
func (s *Store) dropIfEmpty(id string, u *user) {
	if u.empty() {
		delete(s.users, id)
	}
}

// LoadUser implements mfa.UserStore.
func (s *Store) LoadUser(ctx context.Context, userID string, now time.Time, st *mfa.UserState) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	devices := st.Devices[:0]
	s.mu.RLock()
	defer s.mu.RUnlock()
	u := s.users[userID]
	if u == nil {
		*st = mfa.UserState{Devices: devices}
		return nil
	}
	for _, d := range u.devices {
		if !expired(d, now) {
			devices = append(devices, d)
		}
	}
	*st = mfa.UserState{Devices: devices, RecoveryCodes: u.codes, Lockout: u.lockout}
	return nil
}

func expired(d mfa.DeviceRecord, now time.Time) bool {
	return !d.Verified && !now.Before(d.ExpiresAt)
}

// DeleteUser implements mfa.UserStore.
func (s *Store) DeleteUser(ctx context.Context, userID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[userID]
	if u == nil {
		return nil
	}
	for _, h := range u.tokens {
		delete(s.tokens, h)
	}
	delete(s.users, userID)
	return nil
}

// InsertPendingDevice implements mfa.DeviceStore.
func (s *Store) InsertPendingDevice(ctx context.Context, d mfa.DeviceRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(d.UserID, true)
	if slices.ContainsFunc(u.devices, func(x mfa.DeviceRecord) bool { return x.Verified && x.Type == d.Type }) {
		return mfa.ErrDeviceLimit
	}
	u.devices = append(slices.DeleteFunc(u.devices, func(x mfa.DeviceRecord) bool { return !x.Verified }), d)
	u.dropStaleFirst()
	return nil
}

// deviceIndex returns the index of the device in u, or -1.
func deviceIndex(u *user, deviceID string) int {
	if u == nil {
		return -1
	}
	return slices.IndexFunc(u.devices, func(d mfa.DeviceRecord) bool { return d.ID == deviceID })
}

// lockoutOf returns the user's lockout state; a user without state has
// the zero Lockout.
func lockoutOf(u *user) mfa.Lockout {
	if u == nil {
		return mfa.Lockout{}
	}
	return u.lockout
}

// VerifyDevice implements mfa.DeviceStore.
func (s *Store) VerifyDevice(ctx context.Context, userID, deviceID string, step int64, at time.Time, codes mfa.RecoveryCodeSet, lk mfa.Lockout) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[userID]
	i := deviceIndex(u, deviceID)
	switch {
	case !lockoutOf(u).Equal(lk):
		return mfa.ErrLockoutChanged
	case i < 0 || expired(u.devices[i], at):
		return mfa.ErrDeviceNotFound
	case u.devices[i].Verified:
		return mfa.ErrCodeReused
	}
	d := &u.devices[i]
	d.Verified, d.VerifiedAt, d.LastUsedAt, d.LastStep, d.ExpiresAt = true, at, at, step, time.Time{}
	u.codes = codes
	u.lockout = mfa.Lockout{}
	return nil
}

// AcceptStep implements mfa.DeviceStore.
func (s *Store) AcceptStep(ctx context.Context, userID, deviceID string, step int64, at time.Time, lk mfa.Lockout) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[userID]
	i := deviceIndex(u, deviceID)
	switch {
	case !lockoutOf(u).Equal(lk):
		return mfa.ErrLockoutChanged
	case i < 0 || !u.devices[i].Verified:
		return mfa.ErrDeviceNotFound
	case step <= u.devices[i].LastStep:
		return mfa.ErrCodeReused
	}
	d := &u.devices[i]
	d.LastStep, d.LastUsedAt = step, at
	u.lockout = mfa.Lockout{}
	return nil
}

// UpdateDeviceSecret implements mfa.DeviceStore.
func (s *Store) UpdateDeviceSecret(ctx context.Context, userID, deviceID string, secret []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[userID]
	i := deviceIndex(u, deviceID)
	if i < 0 {
		return mfa.ErrDeviceNotFound
	}
	u.devices[i].Secret = secret
	return nil
}

// DeleteDevice implements mfa.DeviceStore.
func (s *Store) DeleteDevice(ctx context.Context, userID, deviceID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[userID]
	i := deviceIndex(u, deviceID)
	if i < 0 {
		return nil
	}
	if u.devices[i].Verified {
		u.codes = mfa.RecoveryCodeSet{}
	}
	u.devices = slices.Delete(u.devices, i, i+1)
	s.dropIfEmpty(userID, u)
	return nil
}

// ReplaceRecoveryCodes implements mfa.RecoveryCodeStore.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, set mfa.RecoveryCodeSet) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[userID]
	if u == nil || !slices.ContainsFunc(u.devices, func(d mfa.DeviceRecord) bool { return d.Verified }) {
		return mfa.ErrNoDevice
	}
	u.codes = set
	return nil
}

// ConsumeRecoveryCode implements mfa.RecoveryCodeStore.
func (s *Store) ConsumeRecoveryCode(ctx context.Context, userID string, hash [mfa.HashSize]byte, at time.Time, lk mfa.Lockout) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[userID]
	if !lockoutOf(u).Equal(lk) {
		return 0, mfa.ErrLockoutChanged
	}
	if u == nil {
		return 0, mfa.ErrInvalidCode
	}
	i := slices.Index(u.codes.Hashes, hash)
	if i < 0 {
		return 0, mfa.ErrInvalidCode
	}
	u.codes.Hashes = slices.Delete(slices.Clone(u.codes.Hashes), i, i+1)
	u.lockout = mfa.Lockout{}
	return len(u.codes.Hashes), nil
}

// AcknowledgeRecoveryCodes implements mfa.RecoveryCodeStore.
func (s *Store) AcknowledgeRecoveryCodes(ctx context.Context, userID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[userID]; u != nil {
		u.codes.Sealed = nil
	}
	return nil
}

// InsertToken implements mfa.TokenStore. It also drops the user's expired
// tokens, so that memory stays bounded without Cleanup.
func (s *Store) InsertToken(ctx context.Context, t mfa.TokenRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(t.UserID, true)
	u.tokens = slices.DeleteFunc(slices.Clone(u.tokens), func(h [mfa.HashSize]byte) bool {
		old := s.tokens[h]
		if old == nil || !t.CreatedAt.Before(old.ExpiresAt) {
			delete(s.tokens, h)
			return true
		}
		return false
	})
	s.tokens[t.Hash] = &t
	u.tokens = append(u.tokens, t.Hash)
	return nil
}

// Token implements mfa.TokenStore.
func (s *Store) Token(ctx context.Context, hash [mfa.HashSize]byte) (mfa.TokenRecord, error) {
	if err := ctx.Err(); err != nil {
		return mfa.TokenRecord{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := s.tokens[hash]
	if t == nil {
		return mfa.TokenRecord{}, mfa.ErrTokenInvalid
	}
	return *t, nil
}

// ConsumeToken implements mfa.TokenStore.
func (s *Store) ConsumeToken(ctx context.Context, hash [mfa.HashSize]byte, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tokens[hash]
	if t == nil || !now.Before(t.ExpiresAt) {
		return mfa.ErrTokenInvalid
	}
	s.deleteTokenLocked(t)
	return nil
}

func (s *Store) deleteTokenLocked(t *mfa.TokenRecord) {
	delete(s.tokens, t.Hash)
	if u := s.users[t.UserID]; u != nil {
		u.tokens = slices.DeleteFunc(slices.Clone(u.tokens), func(h [mfa.HashSize]byte) bool { return h == t.Hash })
		s.dropIfEmpty(t.UserID, u)
	}
}

// Lockout implements mfa.LockoutStore.
func (s *Store) Lockout(ctx context.Context, userID string) (mfa.Lockout, error) {
	if err := ctx.Err(); err != nil {
		return mfa.Lockout{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if u := s.users[userID]; u != nil {
		return u.lockout, nil
	}
	return mfa.Lockout{}, nil
}

// SwapLockout implements mfa.LockoutStore.
func (s *Store) SwapLockout(ctx context.Context, userID string, old, next mfa.Lockout) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !lockoutOf(s.users[userID]).Equal(old) {
		return false, nil
	}
	u := s.userLocked(userID, true)
	u.lockout = next
	s.dropIfEmpty(userID, u)
	return true, nil
}

// Cleanup implements mfa.Cleaner: it removes expired tokens and pending
// devices, and users with nothing left.
func (s *Store) Cleanup(ctx context.Context, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tokens {
		if !now.Before(t.ExpiresAt) {
			s.deleteTokenLocked(t)
		}
	}
	for id, u := range s.users {
		u.devices = slices.DeleteFunc(u.devices, func(d mfa.DeviceRecord) bool { return expired(d, now) })
		s.dropIfEmpty(id, u)
	}
	return nil
}
