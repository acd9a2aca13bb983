// Package memstore is an in-memory [mfa.Store] for tests, examples and
// single-process services that accept losing MFA state on restart. State
// lives behind one lock; every check-then-set of the Store contract runs
// under the write lock, so it is atomic within the process. Use sqlstore
// when several processes share state or it must survive a restart.
//
// Users are kept in memory the garbage collector does not need to scan,
// so that a store of a million users costs no more per call than a store
// of one. Enrolled users take well under 1 KiB each. Times come back in
// UTC, without a monotonic clock reading.
//
// Like the rest of a Go program, memstore never overwrites memory it no
// longer needs: values handed out may still be in use. A replaced or
// deleted sealed secret, hash or identifier stays in the store's arenas
// until their next compaction, which happens once such garbage outweighs
// what is live. The sealed plaintext of recovery codes is dropped as soon
// as they are acknowledged.
package memstore

import (
	"bytes"
	"context"
	"hash/maphash"
	"slices"
	"sync"
	"time"

	"github.com/mfakit/mfa"
)

// Store is an in-memory mfa.Store. The zero value is not usable; call New.
type Store struct {
	mu    sync.RWMutex
	seed  maphash.Seed
	index map[uint64]int32 // hash of a user ID → first slot with that hash
	slots [][]record       // chunks of slotChunk records; slot 0 is unused
	nslot int32            // slots handed out so far
	free  []int32          // slots to reuse
	spill map[int32][]device
	// sealed holds the sealed plaintext of the recovery codes awaiting
	// acknowledgement, by slot.
	sealed map[int32][]byte
	arenas

	// passkeys are the credentials of verified passkey devices, in chunks
	// of passkeyChunk; passkey 0 is unused. creds maps a hash of a
	// credential ID to the first passkey with that hash, so that
	// VerifyPasskey finds a credential ID held by any user at once.
	passkeys     [][]passkey
	npasskey     int32 // passkeys handed out so far
	freePasskeys []int32
	creds        map[uint64]int32

	// challenges holds each user's login ceremony in progress, by slot.
	challenges map[int32]challenge

	tokens     map[[mfa.HashSize]byte]*mfa.TokenRecord
	userTokens map[string][][mfa.HashSize]byte

	// sameHash makes every user ID hash alike, so that tests reach the
	// collision chains.
	sameHash bool
}

var (
	_ mfa.Store   = (*Store)(nil)
	_ mfa.Cleaner = (*Store)(nil)
)

// New returns an empty store.
func New() *Store {
	return &Store{
		seed:       maphash.MakeSeed(),
		index:      make(map[uint64]int32),
		nslot:      1,
		spill:      make(map[int32][]device),
		sealed:     make(map[int32][]byte),
		arenas:     newArenas(),
		npasskey:   1,
		creds:      make(map[uint64]int32),
		challenges: make(map[int32]challenge),
		tokens:     make(map[[mfa.HashSize]byte]*mfa.TokenRecord),
		userTokens: make(map[string][][mfa.HashSize]byte),
	}
}

func (s *Store) hash(userID string) uint64 {
	if s.sameHash {
		return 1
	}
	return maphash.String(s.seed, userID)
}

// credHash returns the hash of a credential ID in s.creds.
func (s *Store) credHash(id []byte) uint64 {
	if s.sameHash {
		return 1
	}
	return maphash.Bytes(s.seed, id)
}

func (s *Store) rec(slot int32) *record {
	return &s.slots[slot/slotChunk][slot%slotChunk]
}

func (s *Store) userID(r *record) string {
	if int(r.uidLen) <= uidInline {
		return string(r.uid[:r.uidLen])
	}
	return s.text.get(r.uidText)
}

func (s *Store) isUser(r *record, userID string) bool {
	if int(r.uidLen) <= uidInline {
		return string(r.uid[:r.uidLen]) == userID
	}
	return len(userID) == int(r.uidLen) && s.text.get(r.uidText) == userID
}

// find returns the slot and record of userID, or 0 and nil.
func (s *Store) find(userID string) (int32, *record) {
	for i := s.index[s.hash(userID)]; i != 0; {
		r := s.rec(i)
		if s.isUser(r, userID) {
			return i, r
		}
		i = r.next
	}
	return 0, nil
}

// findOrAdd returns the slot and record of userID, adding an empty one.
// The caller holds s.mu for writing.
func (s *Store) findOrAdd(userID string) (int32, *record) {
	if i, r := s.find(userID); r != nil {
		return i, r
	}
	var slot int32
	if n := len(s.free); n > 0 {
		slot, s.free = s.free[n-1], s.free[:n-1]
	} else {
		if int(s.nslot) >= len(s.slots)*slotChunk {
			s.slots = append(s.slots, make([]record, slotChunk))
		}
		slot = s.nslot
		s.nslot++
	}
	r := s.rec(slot)
	h := s.hash(userID)
	*r = record{inUse: true, uidLen: uint32(len(userID)), next: s.index[h]}
	if len(userID) <= uidInline {
		copy(r.uid[:], userID)
	} else {
		r.uidText = s.text.add(userID)
	}
	s.index[h] = slot
	return slot, r
}

// remove frees the slot of userID. The caller holds s.mu for writing.
func (s *Store) remove(userID string, slot int32, r *record) {
	unlink(s.index, s.hash(userID), slot, func(i int32) *int32 { return &s.rec(i).next })
	for i := range r.deviceCount() {
		s.discardDevice(s.deviceAt(slot, r, i))
	}
	delete(s.spill, slot)
	delete(s.challenges, slot)
	s.dropCodes(slot, r)
	if int(r.uidLen) > uidInline {
		s.text.drop(r.uidText)
	}
	*r = record{}
	s.free = append(s.free, slot)
	s.compactIfWasteful()
}

// unlink takes i out of the chain of entries whose key hashes to h: heads
// maps a hash to its chain's first entry, and next gives the field of an
// entry that holds the one after it (0 for none).
func unlink(heads map[uint64]int32, h uint64, i int32, next func(int32) *int32) {
	if heads[h] == i {
		if n := *next(i); n == 0 {
			delete(heads, h)
		} else {
			heads[h] = n
		}
		return
	}
	prev := heads[h]
	for *next(prev) != i {
		prev = *next(prev)
	}
	*next(prev) = *next(i)
}

// removeIfEmpty forgets a user with no state left, so that memory follows
// the number of enrolled users.
func (s *Store) removeIfEmpty(userID string, slot int32, r *record) {
	if r.ndev == 0 && r.codeHashes == (ref{}) && !r.pending && !r.challenge && r.failures == 0 && r.lastFailure == (stamp{}) {
		s.remove(userID, slot, r)
	}
}

// deviceCount returns how many devices the user of r has; none for a nil r.
func (r *record) deviceCount() int {
	if r == nil {
		return 0
	}
	return int(r.ndev)
}

// deviceAt returns the user's device i; the first is in the record.
func (s *Store) deviceAt(slot int32, r *record, i int) *device {
	if i == 0 {
		return &r.dev[0]
	}
	return &s.spill[slot][i-1]
}

// deviceIndex returns the index of the user's device, or -1.
func (s *Store) deviceIndex(slot int32, r *record, deviceID string) int {
	if r == nil {
		return -1
	}
	for i := range r.deviceCount() {
		if s.text.get(s.deviceAt(slot, r, i).id) == deviceID {
			return i
		}
	}
	return -1
}

// deletePending removes the user's pending devices.
func (s *Store) deletePending(slot int32, r *record) {
	for i := r.deviceCount() - 1; i >= 0; i-- {
		if !s.deviceAt(slot, r, i).verified {
			s.deleteDevice(slot, r, i)
		}
	}
}

// deleteDevice removes the user's device i and counts its values as
// garbage.
func (s *Store) deleteDevice(slot int32, r *record, i int) {
	s.discardDevice(s.deviceAt(slot, r, i))
	more := s.spill[slot]
	switch {
	case i == 0 && len(more) > 0:
		r.dev[0] = more[0]
		more = more[1:]
	case i > 0:
		more = slices.Delete(more, i-1, i)
	}
	if len(more) == 0 {
		delete(s.spill, slot)
	} else {
		s.spill[slot] = more
	}
	if i == 0 && r.ndev == 1 {
		r.dev[0] = device{}
	}
	r.ndev--
}

// addDevice appends d to the user's devices.
func (s *Store) addDevice(slot int32, r *record, d device) {
	if r.ndev == 0 {
		r.dev[0] = d
	} else {
		s.spill[slot] = append(s.spill[slot], d)
	}
	r.ndev++
}

// discardDevice counts d's values as garbage and frees its passkey
// credential, whose ID another device may then hold.
func (s *Store) discardDevice(d *device) {
	s.dropDevice(d)
	if d.pk != 0 {
		s.dropPasskey(d.pk)
		d.pk = 0
	}
}

// passkey returns passkey i.
func (s *Store) passkey(i int32) *passkey {
	return &s.passkeys[i/passkeyChunk][i%passkeyChunk]
}

// findCred returns the passkey whose credential ID is id, or 0.
func (s *Store) findCred(id []byte) int32 {
	for i := s.creds[s.credHash(id)]; i != 0; {
		p := s.passkey(i)
		if bytes.Equal(s.bytes.get(p.id), id) {
			return i
		}
		i = p.next
	}
	return 0
}

// addPasskey stores cred as a credential of the user in slot, indexes it
// and returns it. The caller holds s.mu for writing.
func (s *Store) addPasskey(slot int32, cred *mfa.PasskeyCredential) int32 {
	var i int32
	if n := len(s.freePasskeys); n > 0 {
		i, s.freePasskeys = s.freePasskeys[n-1], s.freePasskeys[:n-1]
	} else {
		if int(s.npasskey) >= len(s.passkeys)*passkeyChunk {
			s.passkeys = append(s.passkeys, make([]passkey, passkeyChunk))
		}
		i = s.npasskey
		s.npasskey++
	}
	h := s.credHash(cred.ID)
	p := s.passkey(i)
	*p = s.newPasskey(slot, cred)
	p.next, s.creds[h] = s.creds[h], i
	return i
}

// dropPasskey removes passkey i from the index, counts its values as
// garbage and frees it. The caller holds s.mu for writing.
func (s *Store) dropPasskey(i int32) {
	p := s.passkey(i)
	unlink(s.creds, s.credHash(s.bytes.get(p.id)), i, func(i int32) *int32 { return &s.passkey(i).next })
	s.arenas.dropPasskey(p)
	*p = passkey{}
	s.freePasskeys = append(s.freePasskeys, i)
}

// compactIfWasteful copies the values still referenced into new arenas
// once the garbage in the old ones outweighs them. A value handed out
// earlier stays valid: it keeps its old chunk alive until it is dropped.
// The caller holds s.mu for writing.
func (s *Store) compactIfWasteful() {
	if !s.arenas.wasteful(int(s.nslot)) {
		return
	}
	next := newArenas()
	for slot := int32(1); slot < s.nslot; slot++ {
		r := s.rec(slot)
		if !r.inUse {
			continue
		}
		if int(r.uidLen) > uidInline {
			r.uidText = next.text.add(s.text.get(r.uidText))
		}
		for i := range r.deviceCount() {
			d := s.deviceAt(slot, r, i)
			s.moveDevice(&next, d)
			if d.pk != 0 {
				s.movePasskey(&next, s.passkey(d.pk))
			}
		}
		r.codeKey = next.text.add(s.text.get(r.codeKey))
		r.codeFormat = next.text.add(s.text.get(r.codeFormat))
		r.codeHashes = next.hashes.add(s.hashes.get(r.codeHashes))
	}
	s.arenas = next
}

// loadCodes sets *dst to the recovery code set of the user in slot,
// sharing the store's memory.
func (s *Store) loadCodes(dst *mfa.RecoveryCodeSet, slot int32, r *record) {
	dst.KeyID = s.text.get(r.codeKey)
	dst.Hashes = s.hashes.get(r.codeHashes)
	dst.Sealed = nil
	if r.pending {
		dst.Sealed = s.sealed[slot]
	}
	dst.CreatedAt = r.codeCreated.time()
	dst.Format = mfa.RecoveryFormat(s.text.get(r.codeFormat))
}

func (s *Store) setCodes(slot int32, r *record, set mfa.RecoveryCodeSet) {
	s.dropCodes(slot, r)
	r.codeKey = s.text.add(set.KeyID)
	r.codeFormat = s.text.add(string(set.Format))
	r.codeHashes = s.hashes.add(set.Hashes)
	r.codeCreated = stampOf(set.CreatedAt)
	if set.Sealed != nil {
		s.sealed[slot], r.pending = set.Sealed, true
	}
}

func (s *Store) dropCodes(slot int32, r *record) {
	s.text.drop(r.codeKey)
	s.text.drop(r.codeFormat)
	s.hashes.drop(r.codeHashes)
	delete(s.sealed, slot)
	r.codeKey, r.codeFormat, r.codeHashes, r.codeCreated, r.pending = ref{}, ref{}, ref{}, stamp{}, false
}

func (r *record) lockout() mfa.Lockout {
	if r == nil {
		return mfa.Lockout{}
	}
	return mfa.Lockout{Failures: r.failures, LastFailure: r.lastFailure.time()}
}

// LoadUser implements mfa.UserStore.
func (s *Store) LoadUser(ctx context.Context, userID string, now time.Time) (mfa.UserState, error) {
	var st mfa.UserState
	if err := ctx.Err(); err != nil {
		return st, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	slot, r := s.find(userID)
	if r == nil {
		return st, nil
	}
	st.Devices = make([]mfa.DeviceRecord, 0, r.deviceCount())
	for i := range r.deviceCount() {
		if d := s.deviceAt(slot, r, i); !expired(d, now) {
			st.Devices = append(st.Devices, mfa.DeviceRecord{})
			dst := &st.Devices[len(st.Devices)-1]
			s.loadDevice(dst, userID, d)
			if d.pk != 0 {
				dst.Passkey = s.loadPasskey(s.passkey(d.pk))
			}
		}
	}
	s.loadCodes(&st.RecoveryCodes, slot, r)
	st.Lockout = r.lockout()
	return st, nil
}

func expired(d *device, now time.Time) bool {
	return !d.verified && !now.Before(d.expires.time())
}

// DeleteUser implements mfa.UserStore. The user's passkey credential IDs
// are free again.
func (s *Store) DeleteUser(ctx context.Context, userID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleteUserTokensLocked(userID)
	if slot, r := s.find(userID); r != nil {
		s.remove(userID, slot, r)
	}
	return nil
}

// InsertPendingDevice implements mfa.DeviceStore. A pending device holds
// no passkey credential: d.Passkey is not kept.
func (s *Store) InsertPendingDevice(ctx context.Context, d mfa.DeviceRecord, limit int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	slot, r := s.find(d.UserID)
	if s.verifiedOfType(slot, r, string(d.Type)) >= limit {
		return mfa.ErrDeviceLimit
	}
	slot, r = s.findOrAdd(d.UserID)
	s.deletePending(slot, r)
	s.addDevice(slot, r, s.newDevice(d))
	s.compactIfWasteful()
	return nil
}

// ImportDevice implements mfa.DeviceStore. A device that brings a passkey
// credential whose ID a device already holds is refused with
// mfa.ErrPasskeyRegistered, as VerifyPasskey refuses it.
func (s *Store) ImportDevice(ctx context.Context, d mfa.DeviceRecord, codes mfa.RecoveryCodeSet, limit int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if slot, r := s.find(d.UserID); s.verifiedOfType(slot, r, string(d.Type)) >= limit {
		return mfa.ErrDeviceLimit
	}
	if d.Passkey != nil && s.findCred(d.Passkey.ID) != 0 {
		return mfa.ErrPasskeyRegistered
	}
	slot, r := s.findOrAdd(d.UserID)
	s.deletePending(slot, r)
	dev := s.newDevice(d)
	dev.verified = true
	if d.Passkey != nil {
		dev.pk = s.addPasskey(slot, d.Passkey)
	}
	s.addDevice(slot, r, dev)
	if len(codes.Hashes) > 0 {
		s.setCodes(slot, r, codes)
	}
	s.compactIfWasteful()
	return nil
}

// verifiedCount counts the verified devices of the user in slot.
func (s *Store) verifiedCount(slot int32, r *record) int {
	n := 0
	for i := range r.deviceCount() {
		if s.deviceAt(slot, r, i).verified {
			n++
		}
	}
	return n
}

// verifiedOfType counts the verified devices of type typ of the user in
// slot; r may be nil.
func (s *Store) verifiedOfType(slot int32, r *record, typ string) int {
	n := 0
	for i := range r.deviceCount() {
		if x := s.deviceAt(slot, r, i); x.verified && s.text.get(x.typ) == typ {
			n++
		}
	}
	return n
}

// SetDefaultDevice implements mfa.DeviceStore.
func (s *Store) SetDefaultDevice(ctx context.Context, userID, deviceID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	slot, r := s.find(userID)
	i := s.deviceIndex(slot, r, deviceID)
	if i < 0 || !s.deviceAt(slot, r, i).verified {
		return mfa.ErrDeviceNotFound
	}
	for j := range r.deviceCount() {
		s.deviceAt(slot, r, j).isDefault = j == i
	}
	return nil
}

// VerifyDevice implements mfa.DeviceStore.
func (s *Store) VerifyDevice(ctx context.Context, userID, deviceID string, step int64, at time.Time, codes mfa.RecoveryCodeSet, lk mfa.Lockout, limit int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	slot, r := s.find(userID)
	i := s.deviceIndex(slot, r, deviceID)
	switch {
	case !r.lockout().Equal(lk):
		return mfa.ErrLockoutChanged
	case i < 0 || expired(s.deviceAt(slot, r, i), at):
		return mfa.ErrDeviceNotFound
	case s.deviceAt(slot, r, i).verified:
		return mfa.ErrCodeReused
	case s.verifiedOfType(slot, r, s.text.get(s.deviceAt(slot, r, i).typ)) >= limit:
		return mfa.ErrDeviceLimit
	}
	d := s.deviceAt(slot, r, i)
	d.verified, d.verifiedAt, d.lastUsed, d.lastStep, d.expires = true, stampOf(at), stampOf(at), step, stamp{}
	if len(codes.Hashes) > 0 {
		s.setCodes(slot, r, codes)
	}
	r.failures, r.lastFailure = 0, stamp{}
	s.compactIfWasteful()
	return nil
}

// AcceptStep implements mfa.DeviceStore.
func (s *Store) AcceptStep(ctx context.Context, userID, deviceID string, step int64, at time.Time, lk mfa.Lockout) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	slot, r := s.find(userID)
	i := s.deviceIndex(slot, r, deviceID)
	switch {
	case !r.lockout().Equal(lk):
		return mfa.ErrLockoutChanged
	case i < 0 || !s.deviceAt(slot, r, i).verified:
		return mfa.ErrDeviceNotFound
	case step <= s.deviceAt(slot, r, i).lastStep:
		return mfa.ErrCodeReused
	}
	d := s.deviceAt(slot, r, i)
	d.lastStep, d.lastUsed = step, stampOf(at)
	r.failures, r.lastFailure = 0, stamp{}
	return nil
}

// UpdateDeviceSecret implements mfa.DeviceStore.
func (s *Store) UpdateDeviceSecret(ctx context.Context, userID, deviceID string, secret []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	slot, r := s.find(userID)
	i := s.deviceIndex(slot, r, deviceID)
	if i < 0 {
		return mfa.ErrDeviceNotFound
	}
	d := s.deviceAt(slot, r, i)
	s.bytes.drop(d.secret)
	d.secret = s.bytes.add(secret)
	s.compactIfWasteful()
	return nil
}

// DeleteDevice implements mfa.DeviceStore.
func (s *Store) DeleteDevice(ctx context.Context, userID, deviceID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	slot, r := s.find(userID)
	i := s.deviceIndex(slot, r, deviceID)
	if i < 0 {
		return nil
	}
	s.deleteUserTokensLocked(userID)
	s.deleteDevice(slot, r, i)
	if s.verifiedCount(slot, r) == 0 {
		s.dropCodes(slot, r) // they stood in for the last verified device
	}
	s.removeIfEmpty(userID, slot, r)
	s.compactIfWasteful()
	return nil
}

// ReplaceRecoveryCodes implements mfa.RecoveryCodeStore.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, set mfa.RecoveryCodeSet) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	slot, r := s.find(userID)
	verified := false
	for i := range r.deviceCount() {
		verified = verified || s.deviceAt(slot, r, i).verified
	}
	if !verified {
		return mfa.ErrNoDevice
	}
	s.setCodes(slot, r, set)
	s.compactIfWasteful()
	return nil
}

// ConsumeRecoveryCode implements mfa.RecoveryCodeStore.
func (s *Store) ConsumeRecoveryCode(ctx context.Context, userID string, hash [mfa.HashSize]byte, at time.Time, lk mfa.Lockout) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, r := s.find(userID)
	if !r.lockout().Equal(lk) {
		return 0, mfa.ErrLockoutChanged
	}
	if r == nil {
		return 0, mfa.ErrInvalidCode
	}
	hashes := s.hashes.get(r.codeHashes)
	i := slices.Index(hashes, hash)
	if i < 0 {
		return 0, mfa.ErrInvalidCode
	}
	s.hashes.drop(r.codeHashes)
	r.codeHashes = s.hashes.add(hashes[:i], hashes[i+1:])
	r.failures, r.lastFailure = 0, stamp{}
	s.compactIfWasteful()
	return len(hashes) - 1, nil
}

// AcknowledgeRecoveryCodes implements mfa.RecoveryCodeStore.
func (s *Store) AcknowledgeRecoveryCodes(ctx context.Context, userID string, notAfter time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if slot, r := s.find(userID); r != nil && !r.codeCreated.time().After(notAfter) {
		delete(s.sealed, slot)
		r.pending = false
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
	mine := slices.DeleteFunc(s.userTokens[t.UserID], func(h [mfa.HashSize]byte) bool {
		old := s.tokens[h]
		if old == nil || !t.CreatedAt.Before(old.ExpiresAt) {
			delete(s.tokens, h)
			return true
		}
		return false
	})
	s.tokens[t.Hash] = &t
	s.userTokens[t.UserID] = append(mine, t.Hash)
	return nil
}

// Token implements mfa.TokenStore.
func (s *Store) Token(ctx context.Context, userID string, hash [mfa.HashSize]byte) (mfa.TokenRecord, error) {
	if err := ctx.Err(); err != nil {
		return mfa.TokenRecord{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := s.tokens[hash]
	if t == nil || t.UserID != userID {
		return mfa.TokenRecord{}, mfa.ErrTokenInvalid
	}
	return *t, nil
}

// ConsumeToken implements mfa.TokenStore.
func (s *Store) ConsumeToken(ctx context.Context, userID string, hash [mfa.HashSize]byte, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tokens[hash]
	if t == nil || t.UserID != userID || !now.Before(t.ExpiresAt) {
		return mfa.ErrTokenInvalid
	}
	s.deleteTokenLocked(t)
	return nil
}

func (s *Store) deleteUserTokensLocked(userID string) {
	for _, h := range s.userTokens[userID] {
		delete(s.tokens, h)
	}
	delete(s.userTokens, userID)
}

func (s *Store) deleteTokenLocked(t *mfa.TokenRecord) {
	delete(s.tokens, t.Hash)
	mine := slices.DeleteFunc(s.userTokens[t.UserID], func(h [mfa.HashSize]byte) bool { return h == t.Hash })
	if len(mine) == 0 {
		delete(s.userTokens, t.UserID)
	} else {
		s.userTokens[t.UserID] = mine
	}
}

// Lockout implements mfa.LockoutStore.
func (s *Store) Lockout(ctx context.Context, userID string) (mfa.Lockout, error) {
	if err := ctx.Err(); err != nil {
		return mfa.Lockout{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, r := s.find(userID)
	return r.lockout(), nil
}

// SwapLockout implements mfa.LockoutStore.
func (s *Store) SwapLockout(ctx context.Context, userID string, old, next mfa.Lockout) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, r := s.find(userID); !r.lockout().Equal(old) {
		return false, nil
	}
	slot, r := s.findOrAdd(userID)
	r.failures, r.lastFailure = next.Failures, stampOf(next.LastFailure)
	s.removeIfEmpty(userID, slot, r)
	return true, nil
}

// Cleanup implements mfa.Cleaner: it removes expired tokens, pending
// devices and login ceremonies, the sealed plaintext of recovery code sets
// created at or before sealedNotAfter, and users with nothing left.
func (s *Store) Cleanup(ctx context.Context, now, sealedNotAfter time.Time) error {
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
	for slot := int32(1); slot < s.nslot; slot++ {
		r := s.rec(slot)
		if !r.inUse {
			continue
		}
		for i := r.deviceCount() - 1; i >= 0; i-- {
			if expired(s.deviceAt(slot, r, i), now) {
				s.deleteDevice(slot, r, i)
			}
		}
		if r.pending && !r.codeCreated.time().After(sealedNotAfter) {
			delete(s.sealed, slot)
			r.pending = false
		}
		if r.challenge && !now.Before(s.challenges[slot].expires.time()) {
			delete(s.challenges, slot)
			r.challenge = false
		}
		s.removeIfEmpty(s.userID(r), slot, r)
	}
	s.compactIfWasteful()
	return nil
}

// VerifyPasskey implements mfa.PasskeyStore.
func (s *Store) VerifyPasskey(ctx context.Context, userID, deviceID string, cred mfa.PasskeyCredential, at time.Time, codes mfa.RecoveryCodeSet, lk mfa.Lockout, limit int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	slot, r := s.find(userID)
	i := s.deviceIndex(slot, r, deviceID)
	switch {
	case !r.lockout().Equal(lk):
		return mfa.ErrLockoutChanged
	case i < 0 || expired(s.deviceAt(slot, r, i), at) || s.text.get(s.deviceAt(slot, r, i).typ) != string(mfa.DevicePasskey):
		return mfa.ErrDeviceNotFound
	case s.deviceAt(slot, r, i).verified:
		return mfa.ErrCodeReused
	case s.verifiedOfType(slot, r, string(mfa.DevicePasskey)) >= limit:
		return mfa.ErrDeviceLimit
	case s.findCred(cred.ID) != 0:
		return mfa.ErrPasskeyRegistered
	}
	d := s.deviceAt(slot, r, i)
	d.verified, d.verifiedAt, d.expires = true, stampOf(at), stamp{}
	s.bytes.drop(d.secret)
	d.secret = ref{}
	d.pk = s.addPasskey(slot, &cred)
	if len(codes.Hashes) > 0 {
		s.setCodes(slot, r, codes)
	}
	r.failures, r.lastFailure = 0, stamp{}
	s.compactIfWasteful()
	return nil
}

// AcceptPasskey implements mfa.PasskeyStore.
func (s *Store) AcceptPasskey(ctx context.Context, userID, deviceID string, signCount uint32, backupState bool, at time.Time, lk mfa.Lockout) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	slot, r := s.find(userID)
	i := s.deviceIndex(slot, r, deviceID)
	switch {
	case !r.lockout().Equal(lk):
		return mfa.ErrLockoutChanged
	case i < 0 || !s.isPasskey(s.deviceAt(slot, r, i)):
		return mfa.ErrDeviceNotFound
	}
	d := s.deviceAt(slot, r, i)
	p := s.passkey(d.pk)
	if !follows(signCount, p.signCount) {
		return mfa.ErrCodeReused
	}
	p.signCount, p.backupState = signCount, backupState
	d.lastUsed = stampOf(at)
	r.failures, r.lastFailure = 0, stamp{}
	return nil
}

// isPasskey reports whether d is a verified passkey device with its
// credential.
func (s *Store) isPasskey(d *device) bool {
	return d.verified && d.pk != 0 && s.text.get(d.typ) == string(mfa.DevicePasskey)
}

// follows reports whether a signature counter presented follows the one
// stored (WebAuthn §6.1.1): both 0, for an authenticator that keeps no
// counter, or greater.
func follows(presented, stored uint32) bool {
	return presented > stored || presented == 0 && stored == 0
}

// PutChallenge implements mfa.PasskeyStore.
func (s *Store) PutChallenge(ctx context.Context, c mfa.ChallengeRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	slot, r := s.findOrAdd(c.UserID)
	s.challenges[slot] = challenge{sealed: c.Sealed, created: stampOf(c.CreatedAt), expires: stampOf(c.ExpiresAt)}
	r.challenge = true
	return nil
}

// TakeChallenge implements mfa.PasskeyStore.
func (s *Store) TakeChallenge(ctx context.Context, userID string, now time.Time) (mfa.ChallengeRecord, error) {
	if err := ctx.Err(); err != nil {
		return mfa.ChallengeRecord{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	slot, r := s.find(userID)
	if r == nil || !r.challenge {
		return mfa.ChallengeRecord{}, mfa.ErrChallengeInvalid
	}
	c := s.challenges[slot]
	delete(s.challenges, slot)
	r.challenge = false
	s.removeIfEmpty(userID, slot, r)
	if !now.Before(c.expires.time()) {
		return mfa.ChallengeRecord{}, mfa.ErrChallengeInvalid
	}
	return mfa.ChallengeRecord{UserID: userID, Sealed: c.sealed, CreatedAt: c.created.time(), ExpiresAt: c.expires.time()}, nil
}
