package memstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mfakit/mfa"
)

// model is the Store contract of store.go written as plainly as possible:
// every user's devices in order, recovery code set, lockout and login
// ceremony, and the tokens by hash. Pending devices are kept until replaced or cleaned up,
// expired or not, since only LoadUser, VerifyDevice and Cleanup are told
// the time.
type model struct {
	users  map[string]*modelUser
	tokens map[[mfa.HashSize]byte]mfa.TokenRecord
}

type modelUser struct {
	devices   []mfa.DeviceRecord
	codes     mfa.RecoveryCodeSet
	lockout   mfa.Lockout
	challenge *mfa.ChallengeRecord
}

func newModel() *model {
	return &model{users: make(map[string]*modelUser), tokens: make(map[[mfa.HashSize]byte]mfa.TokenRecord)}
}

// user returns the state of userID, adding an empty one; tidy forgets it
// again if nothing is left.
func (m *model) user(userID string) *modelUser {
	u := m.users[userID]
	if u == nil {
		u = &modelUser{}
		m.users[userID] = u
	}
	return u
}

func (m *model) tidy(userID string) {
	u := m.users[userID]
	if u == nil {
		return
	}
	if c := u.codes; len(u.devices) == 0 && c.KeyID == "" && c.Hashes == nil && c.Sealed == nil && c.CreatedAt.IsZero() && u.lockout.Equal(mfa.Lockout{}) && u.challenge == nil {
		delete(m.users, userID)
	}
}

func (u *modelUser) device(deviceID string) int {
	return slices.IndexFunc(u.devices, func(d mfa.DeviceRecord) bool { return d.ID == deviceID })
}

func live(d mfa.DeviceRecord, now time.Time) bool { return d.Verified || now.Before(d.ExpiresAt) }

func (m *model) LoadUser(userID string, now time.Time) mfa.UserState {
	defer m.tidy(userID)
	u := m.user(userID)
	st := mfa.UserState{RecoveryCodes: u.codes, Lockout: u.lockout}
	for _, d := range u.devices {
		if live(d, now) {
			st.Devices = append(st.Devices, d)
		}
	}
	return st
}

func (m *model) DeleteUser(userID string) {
	delete(m.users, userID)
	for h, t := range m.tokens {
		if t.UserID == userID {
			delete(m.tokens, h)
		}
	}
}

// verifiedOfType counts the user's verified devices of type t.
func (u *modelUser) verifiedOfType(t mfa.DeviceType) int {
	n := 0
	for _, x := range u.devices {
		if x.Verified && x.Type == t {
			n++
		}
	}
	return n
}

// credHeld reports whether a device of any user holds a credential with
// that ID.
func (m *model) credHeld(id []byte) bool {
	for _, u := range m.users {
		for _, d := range u.devices {
			if d.Passkey != nil && bytes.Equal(d.Passkey.ID, id) {
				return true
			}
		}
	}
	return false
}

func (m *model) InsertPendingDevice(d mfa.DeviceRecord, limit int) error {
	defer m.tidy(d.UserID)
	u := m.user(d.UserID)
	if u.verifiedOfType(d.Type) >= limit {
		return mfa.ErrDeviceLimit
	}
	d.Passkey = nil // a pending device holds no credential
	u.devices = slices.DeleteFunc(u.devices, func(x mfa.DeviceRecord) bool { return !x.Verified })
	u.devices = append(u.devices, d)
	return nil
}

func (m *model) ImportDevice(d mfa.DeviceRecord, codes mfa.RecoveryCodeSet, limit int) error {
	defer m.tidy(d.UserID)
	u := m.user(d.UserID)
	if u.verifiedOfType(d.Type) >= limit {
		return mfa.ErrDeviceLimit
	}
	if d.Passkey != nil && m.credHeld(d.Passkey.ID) {
		return mfa.ErrPasskeyRegistered
	}
	d.Verified = true
	u.devices = slices.DeleteFunc(u.devices, func(x mfa.DeviceRecord) bool { return !x.Verified })
	u.devices = append(u.devices, d)
	if len(codes.Hashes) > 0 {
		u.codes = codes
	}
	return nil
}

func (m *model) SetDefaultDevice(userID, deviceID string) error {
	defer m.tidy(userID)
	u := m.user(userID)
	i := u.device(deviceID)
	if i < 0 || !u.devices[i].Verified {
		return mfa.ErrDeviceNotFound
	}
	for j := range u.devices {
		u.devices[j].Default = j == i
	}
	return nil
}

func (m *model) VerifyDevice(userID, deviceID string, step int64, at time.Time, codes mfa.RecoveryCodeSet, lk mfa.Lockout, limit int) error {
	defer m.tidy(userID)
	u := m.user(userID)
	i := u.device(deviceID)
	switch {
	case !u.lockout.Equal(lk):
		return mfa.ErrLockoutChanged
	case i < 0 || !live(u.devices[i], at):
		return mfa.ErrDeviceNotFound
	case u.devices[i].Verified:
		return mfa.ErrCodeReused
	case u.verifiedOfType(u.devices[i].Type) >= limit:
		return mfa.ErrDeviceLimit
	}
	d := &u.devices[i]
	d.Verified, d.VerifiedAt, d.LastUsedAt, d.LastStep, d.ExpiresAt = true, at, at, step, time.Time{}
	if len(codes.Hashes) > 0 {
		u.codes = codes
	}
	u.lockout = mfa.Lockout{}
	return nil
}

func (m *model) AcceptStep(userID, deviceID string, step int64, at time.Time, lk mfa.Lockout) error {
	defer m.tidy(userID)
	u := m.user(userID)
	i := u.device(deviceID)
	switch {
	case !u.lockout.Equal(lk):
		return mfa.ErrLockoutChanged
	case i < 0 || !u.devices[i].Verified:
		return mfa.ErrDeviceNotFound
	case step <= u.devices[i].LastStep:
		return mfa.ErrCodeReused
	}
	u.devices[i].LastStep, u.devices[i].LastUsedAt = step, at
	u.lockout = mfa.Lockout{}
	return nil
}

func (m *model) UpdateDeviceSecret(userID, deviceID string, secret []byte) error {
	defer m.tidy(userID)
	u := m.user(userID)
	i := u.device(deviceID)
	if i < 0 {
		return mfa.ErrDeviceNotFound
	}
	u.devices[i].Secret = secret
	return nil
}

func (m *model) DeleteDevice(userID, deviceID string) {
	defer m.tidy(userID)
	u := m.user(userID)
	if i := u.device(deviceID); i >= 0 {
		u.devices = slices.Delete(u.devices, i, i+1)
		if !slices.ContainsFunc(u.devices, func(d mfa.DeviceRecord) bool { return d.Verified }) {
			u.codes = mfa.RecoveryCodeSet{}
		}
		maps.DeleteFunc(m.tokens, func(_ [mfa.HashSize]byte, t mfa.TokenRecord) bool { return t.UserID == userID })
	}
}

func (m *model) ReplaceRecoveryCodes(userID string, set mfa.RecoveryCodeSet) error {
	defer m.tidy(userID)
	u := m.user(userID)
	if !slices.ContainsFunc(u.devices, func(d mfa.DeviceRecord) bool { return d.Verified }) {
		return mfa.ErrNoDevice
	}
	u.codes = set
	return nil
}

func (m *model) ConsumeRecoveryCode(userID string, hash [mfa.HashSize]byte, lk mfa.Lockout) (int, error) {
	defer m.tidy(userID)
	u := m.user(userID)
	if !u.lockout.Equal(lk) {
		return 0, mfa.ErrLockoutChanged
	}
	i := slices.Index(u.codes.Hashes, hash)
	if i < 0 {
		return 0, mfa.ErrInvalidCode
	}
	u.codes.Hashes = slices.Delete(slices.Clone(u.codes.Hashes), i, i+1)
	u.lockout = mfa.Lockout{}
	return len(u.codes.Hashes), nil
}

func (m *model) AcknowledgeRecoveryCodes(userID string, notAfter time.Time) {
	defer m.tidy(userID)
	if u := m.user(userID); !u.codes.CreatedAt.After(notAfter) {
		u.codes.Sealed = nil
	}
}

func (m *model) InsertToken(t mfa.TokenRecord) { m.tokens[t.Hash] = t }

func (m *model) ConsumeToken(userID string, hash [mfa.HashSize]byte, now time.Time) error {
	t, ok := m.tokens[hash]
	if !ok || t.UserID != userID || !now.Before(t.ExpiresAt) {
		return mfa.ErrTokenInvalid
	}
	delete(m.tokens, hash)
	return nil
}

func (m *model) Lockout(userID string) mfa.Lockout {
	if u := m.users[userID]; u != nil {
		return u.lockout
	}
	return mfa.Lockout{}
}

func (m *model) SwapLockout(userID string, old, next mfa.Lockout) bool {
	defer m.tidy(userID)
	u := m.user(userID)
	if !u.lockout.Equal(old) {
		return false
	}
	u.lockout = next
	return true
}

func (m *model) VerifyPasskey(userID, deviceID string, cred mfa.PasskeyCredential, at time.Time, codes mfa.RecoveryCodeSet, lk mfa.Lockout, limit int) error {
	defer m.tidy(userID)
	u := m.user(userID)
	i := u.device(deviceID)
	switch {
	case !u.lockout.Equal(lk):
		return mfa.ErrLockoutChanged
	case i < 0 || !live(u.devices[i], at) || u.devices[i].Type != mfa.DevicePasskey:
		return mfa.ErrDeviceNotFound
	case u.devices[i].Verified:
		return mfa.ErrCodeReused
	case u.verifiedOfType(mfa.DevicePasskey) >= limit:
		return mfa.ErrDeviceLimit
	case m.credHeld(cred.ID):
		return mfa.ErrPasskeyRegistered
	}
	d := &u.devices[i]
	d.Verified, d.VerifiedAt, d.ExpiresAt, d.Secret, d.Passkey = true, at, time.Time{}, nil, &cred
	if len(codes.Hashes) > 0 {
		u.codes = codes
	}
	u.lockout = mfa.Lockout{}
	return nil
}

func (m *model) AcceptPasskey(userID, deviceID string, signCount uint32, backupState bool, at time.Time, lk mfa.Lockout) error {
	defer m.tidy(userID)
	u := m.user(userID)
	i := u.device(deviceID)
	switch {
	case !u.lockout.Equal(lk):
		return mfa.ErrLockoutChanged
	case i < 0 || !u.devices[i].Verified || u.devices[i].Type != mfa.DevicePasskey || u.devices[i].Passkey == nil:
		return mfa.ErrDeviceNotFound
	}
	d := &u.devices[i]
	if stored := d.Passkey.SignCount; signCount <= stored && (signCount != 0 || stored != 0) {
		return mfa.ErrCodeReused
	}
	c := *d.Passkey
	c.SignCount, c.BackupState = signCount, backupState
	d.Passkey, d.LastUsedAt = &c, at
	u.lockout = mfa.Lockout{}
	return nil
}

func (m *model) PutChallenge(c mfa.ChallengeRecord) {
	m.user(c.UserID).challenge = &c
}

func (m *model) TakeChallenge(userID string, now time.Time) (mfa.ChallengeRecord, error) {
	defer m.tidy(userID)
	u := m.user(userID)
	c := u.challenge
	u.challenge = nil
	if c == nil || !now.Before(c.ExpiresAt) {
		return mfa.ChallengeRecord{}, mfa.ErrChallengeInvalid
	}
	return *c, nil
}

func (m *model) Cleanup(now, sealedNotAfter time.Time) {
	for h, t := range m.tokens {
		if !now.Before(t.ExpiresAt) {
			delete(m.tokens, h)
		}
	}
	for id, u := range m.users {
		u.devices = slices.DeleteFunc(u.devices, func(d mfa.DeviceRecord) bool { return !live(d, now) })
		if !u.codes.CreatedAt.After(sealedNotAfter) {
			u.codes.Sealed = nil
		}
		if u.challenge != nil && !now.Before(u.challenge.ExpiresAt) {
			u.challenge = nil
		}
		m.tidy(id)
	}
}

// diffState describes how got differs from want, or returns "".
func diffState(got, want mfa.UserState) string {
	if len(got.Devices) != len(want.Devices) {
		return fmt.Sprintf("%d devices, want %d", len(got.Devices), len(want.Devices))
	}
	for i, g := range got.Devices {
		w := want.Devices[i]
		if g.ID != w.ID || g.UserID != w.UserID || g.Type != w.Type || g.Alias != w.Alias || g.AccountName != w.AccountName ||
			!bytes.Equal(g.Secret, w.Secret) || g.Verified != w.Verified || g.LastStep != w.LastStep ||
			g.Algorithm != w.Algorithm || g.Digits != w.Digits || g.Period != w.Period || g.Default != w.Default ||
			!g.CreatedAt.Equal(w.CreatedAt) || !g.ExpiresAt.Equal(w.ExpiresAt) || !g.VerifiedAt.Equal(w.VerifiedAt) || !g.LastUsedAt.Equal(w.LastUsedAt) {
			return fmt.Sprintf("device %d is\n\t%+v, want\n\t%+v", i, g, w)
		}
		if diff := diffPasskey(g.Passkey, w.Passkey); diff != "" {
			return fmt.Sprintf("device %d: %s", i, diff)
		}
	}
	g, w := got.RecoveryCodes, want.RecoveryCodes
	if g.KeyID != w.KeyID || !slices.Equal(g.Hashes, w.Hashes) || (g.Hashes == nil) != (w.Hashes == nil) ||
		!bytes.Equal(g.Sealed, w.Sealed) || (g.Sealed == nil) != (w.Sealed == nil) || !g.CreatedAt.Equal(w.CreatedAt) || g.Format != w.Format {
		return fmt.Sprintf("recovery codes are\n\t%+v, want\n\t%+v", g, w)
	}
	if !got.Lockout.Equal(want.Lockout) {
		return fmt.Sprintf("lockout %+v, want %+v", got.Lockout, want.Lockout)
	}
	return ""
}

// diffPasskey describes how got differs from want, or returns "". A nil
// slice and an empty one differ: the store keeps them apart.
func diffPasskey(got, want *mfa.PasskeyCredential) string {
	if got == nil || want == nil {
		if (got == nil) != (want == nil) {
			return fmt.Sprintf("passkey %+v, want %+v", got, want)
		}
		return ""
	}
	g, w := *got, *want
	sameBytes := func(a, b []byte) bool { return bytes.Equal(a, b) && (a == nil) == (b == nil) }
	if !sameBytes(g.ID, w.ID) || !sameBytes(g.UserHandle, w.UserHandle) || !sameBytes(g.PublicKey, w.PublicKey) ||
		!slices.Equal(g.Transports, w.Transports) || (g.Transports == nil) != (w.Transports == nil) ||
		g.SignCount != w.SignCount || g.AAGUID != w.AAGUID || g.BackupEligible != w.BackupEligible || g.BackupState != w.BackupState ||
		g.UserVerified != w.UserVerified || g.AttestationType != w.AttestationType || g.AttestationFormat != w.AttestationFormat {
		return fmt.Sprintf("passkey is\n\t%+v, want\n\t%+v", g, w)
	}
	return ""
}

// clonePasskey returns a copy of c sharing no memory with it.
func clonePasskey(c *mfa.PasskeyCredential) *mfa.PasskeyCredential {
	if c == nil {
		return nil
	}
	d := *c
	d.ID, d.UserHandle, d.PublicKey = bytes.Clone(c.ID), bytes.Clone(c.UserHandle), bytes.Clone(c.PublicKey)
	d.Transports = slices.Clone(c.Transports)
	for i, t := range d.Transports {
		d.Transports[i] = strings.Clone(t)
	}
	d.AttestationType, d.AttestationFormat = strings.Clone(c.AttestationType), strings.Clone(c.AttestationFormat)
	return &d
}

// cloneState returns a copy of st sharing no memory with it.
func cloneState(st mfa.UserState) mfa.UserState {
	c := st
	c.Devices = slices.Clone(st.Devices)
	for i := range c.Devices {
		c.Devices[i].ID = strings.Clone(c.Devices[i].ID)
		c.Devices[i].Secret = bytes.Clone(c.Devices[i].Secret)
		c.Devices[i].Passkey = clonePasskey(c.Devices[i].Passkey)
	}
	c.RecoveryCodes.KeyID = strings.Clone(st.RecoveryCodes.KeyID)
	c.RecoveryCodes.Hashes = slices.Clone(st.RecoveryCodes.Hashes)
	c.RecoveryCodes.Sealed = bytes.Clone(st.RecoveryCodes.Sealed)
	return c
}

// diffChallenge describes how got differs from want, or returns "".
func diffChallenge(got, want mfa.ChallengeRecord) string {
	if got.UserID != want.UserID || !bytes.Equal(got.Sealed, want.Sealed) || (got.Sealed == nil) != (want.Sealed == nil) ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) {
		return fmt.Sprintf("login ceremony\n\t%+v, want\n\t%+v", got, want)
	}
	return ""
}

// checkInvariants describes what is wrong in the internal state of s, or
// returns "".
func checkInvariants(s *Store) string {
	var text, byts, hashes, inUse int
	passkeys := make(map[int32]bool) // referenced by a device
	for slot := int32(1); slot < s.nslot; slot++ {
		r := s.rec(slot)
		if !r.inUse {
			if *r != (record{}) {
				return fmt.Sprintf("free slot %d is not the zero record", slot)
			}
			continue
		}
		inUse++
		if int(r.uidLen) > uidInline {
			if r.uidText.len() != int(r.uidLen) {
				return fmt.Sprintf("slot %d: user ID of %d bytes in a text ref of %d", slot, r.uidLen, r.uidText.len())
			}
			text += r.uidText.len()
		}
		if spill, ok := s.spill[slot]; r.ndev > 1 && len(spill) != int(r.ndev)-1 || r.ndev <= 1 && ok {
			return fmt.Sprintf("slot %d: %d devices with %d spilled (present %v)", slot, r.ndev, len(spill), ok)
		}
		for i := range int(r.ndev) {
			d := s.deviceAt(slot, r, i)
			text += d.id.len() + d.typ.len() + d.alias.len() + d.account.len() + d.alg.len()
			byts += d.secret.len()
			if d.pk == 0 {
				continue
			}
			if d.pk < 0 || d.pk >= s.npasskey || passkeys[d.pk] {
				return fmt.Sprintf("slot %d: device %d refers to passkey %d of %d, or one another device refers to", slot, i, d.pk, s.npasskey)
			}
			passkeys[d.pk] = true
			p := s.passkey(d.pk)
			if p.slot != slot {
				return fmt.Sprintf("passkey %d of slot %d says slot %d", d.pk, slot, p.slot)
			}
			text += p.transports.len() + p.attType.len() + p.attFormat.len()
			byts += p.id.len() + p.userHandle.len() + p.publicKey.len()
		}
		if _, ok := s.challenges[slot]; ok != r.challenge {
			return fmt.Sprintf("slot %d: challenge %v but ceremony kept %v", slot, r.challenge, ok)
		}
		text += r.codeKey.len() + r.codeFormat.len()
		hashes += r.codeHashes.len()
		if _, ok := s.sealed[slot]; ok != r.pending {
			return fmt.Sprintf("slot %d: pending %v but sealed plaintext kept %v", slot, r.pending, ok)
		}
	}
	for slot := range s.spill {
		if slot <= 0 || slot >= s.nslot || !s.rec(slot).inUse {
			return fmt.Sprintf("spilled devices for unused slot %d", slot)
		}
	}
	for slot := range s.sealed {
		if slot <= 0 || slot >= s.nslot || !s.rec(slot).inUse {
			return fmt.Sprintf("sealed plaintext for unused slot %d", slot)
		}
	}
	for slot := range s.challenges {
		if slot <= 0 || slot >= s.nslot || !s.rec(slot).inUse {
			return fmt.Sprintf("login ceremony for unused slot %d", slot)
		}
	}
	if msg := checkPasskeys(s, passkeys); msg != "" {
		return msg
	}
	if s.text.live != text || s.bytes.live != byts || s.hashes.live != hashes {
		return fmt.Sprintf("live counters text %d, bytes %d, hashes %d; records reference %d, %d, %d",
			s.text.live, s.bytes.live, s.hashes.live, text, byts, hashes)
	}
	if s.text.dead < 0 || s.bytes.dead < 0 || s.hashes.dead < 0 {
		return fmt.Sprintf("negative dead counters %d, %d, %d", s.text.dead, s.bytes.dead, s.hashes.dead)
	}
	reached := make(map[int32]bool)
	for h, head := range s.index {
		for i := head; i != 0; i = s.rec(i).next {
			switch {
			case i < 0 || i >= s.nslot:
				return fmt.Sprintf("chain of %#x reaches slot %d of %d", h, i, s.nslot)
			case reached[i]:
				return fmt.Sprintf("slot %d reached twice from the index", i)
			case !s.rec(i).inUse:
				return fmt.Sprintf("free slot %d reachable from the index", i)
			case s.hash(s.userID(s.rec(i))) != h:
				return fmt.Sprintf("slot %d in the chain of another hash", i)
			}
			reached[i] = true
		}
	}
	if len(reached) != inUse {
		return fmt.Sprintf("%d slots in use, %d reachable from the index", inUse, len(reached))
	}
	free := make(map[int32]bool)
	for _, slot := range s.free {
		if slot <= 0 || slot >= s.nslot || s.rec(slot).inUse || free[slot] {
			return fmt.Sprintf("bad free list %v", s.free)
		}
		free[slot] = true
	}
	if len(free)+inUse != int(s.nslot)-1 {
		return fmt.Sprintf("%d free and %d used slots of %d", len(free), inUse, s.nslot-1)
	}
	return ""
}

// checkPasskeys checks the passkey table and the credential index against
// the passkeys that devices refer to.
func checkPasskeys(s *Store, referenced map[int32]bool) string {
	ids := make(map[string]bool)
	for i := int32(1); i < s.npasskey; i++ {
		p := s.passkey(i)
		if !referenced[i] {
			if *p != (passkey{}) {
				return fmt.Sprintf("passkey %d is referenced by no device but not free", i)
			}
			continue
		}
		id := string(s.bytes.get(p.id))
		if ids[id] {
			return fmt.Sprintf("credential ID %x held twice", id)
		}
		ids[id] = true
	}
	reached := make(map[int32]bool)
	for h, head := range s.creds {
		for i := head; i != 0; i = s.passkey(i).next {
			switch {
			case i < 0 || i >= s.npasskey:
				return fmt.Sprintf("credential chain of %#x reaches passkey %d of %d", h, i, s.npasskey)
			case reached[i]:
				return fmt.Sprintf("passkey %d reached twice from the credential index", i)
			case !referenced[i]:
				return fmt.Sprintf("free passkey %d reachable from the credential index", i)
			case s.credHash(s.bytes.get(s.passkey(i).id)) != h:
				return fmt.Sprintf("passkey %d in the chain of another hash", i)
			}
			reached[i] = true
		}
	}
	if len(reached) != len(referenced) {
		return fmt.Sprintf("%d passkeys in use, %d reachable from the credential index", len(referenced), len(reached))
	}
	free := make(map[int32]bool)
	for _, i := range s.freePasskeys {
		if i <= 0 || i >= s.npasskey || referenced[i] || free[i] {
			return fmt.Sprintf("bad free passkey list %v", s.freePasskeys)
		}
		free[i] = true
	}
	if len(free)+len(referenced) != int(s.npasskey)-1 {
		return fmt.Sprintf("%d free and %d used passkeys of %d", len(free), len(referenced), s.npasskey-1)
	}
	return ""
}

// differ runs one random sequence of operations on a Store and a model.
type differ struct {
	t       *testing.T
	ctx     context.Context
	rng     *rand.Rand
	src     *rand.ChaCha8
	s       *Store
	m       *model
	now     time.Time
	users   []string
	devices []string
	tokens  []mfa.TokenRecord // every token inserted
	codes   [][mfa.HashSize]byte
	seenLk  []mfa.Lockout
	kept    []mfa.UserState // handed out by LoadUser
	copies  []mfa.UserState // deep copies of kept
	trace   []string
	seq     int
	reached map[string]int // outcomes of the passkey operations, across sequences
}

var zone = time.FixedZone("diff", -7*3600)

// at returns the current time, sometimes in another location.
func (d *differ) at() time.Time {
	if d.rng.IntN(4) == 0 {
		return d.now.In(zone)
	}
	return d.now
}

func (d *differ) randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = d.src.Read(b)
	return b
}

func (d *differ) secret() []byte {
	switch d.rng.IntN(25) {
	case 0:
		return nil
	case 1:
		return []byte{}
	case 2:
		return d.randBytes(arenaChunk + d.rng.IntN(8000))
	}
	return d.randBytes(1 + d.rng.IntN(1500))
}

// credential returns a passkey credential, its ID most of the time one of
// a few, so that credential IDs collide.
func (d *differ) credential() mfa.PasskeyCredential {
	c := mfa.PasskeyCredential{
		SignCount:         []uint32{0, 0, 1, uint32(d.rng.IntN(100)), math.MaxUint32}[d.rng.IntN(5)],
		BackupEligible:    d.rng.IntN(2) == 0,
		BackupState:       d.rng.IntN(2) == 0,
		UserVerified:      d.rng.IntN(2) == 0,
		AttestationType:   []string{"", "none", "basic_full"}[d.rng.IntN(3)],
		AttestationFormat: []string{"", "none", "packed", strings.Repeat("f", 300)}[d.rng.IntN(4)],
	}
	switch d.rng.IntN(12) {
	case 0:
	case 1:
		c.ID = []byte{}
	case 2:
		c.ID = d.randBytes(1 + d.rng.IntN(1023))
	default:
		c.ID = fmt.Appendf(nil, "cred-%d", d.rng.IntN(8))
	}
	switch d.rng.IntN(4) {
	case 0:
	case 1:
		c.UserHandle = []byte{}
	default:
		c.UserHandle = d.randBytes(1 + d.rng.IntN(64))
	}
	if d.rng.IntN(8) > 0 {
		c.PublicKey = d.randBytes(d.rng.IntN(600))
	}
	if d.rng.IntN(3) > 0 {
		_, _ = d.src.Read(c.AAGUID[:])
	}
	switch d.rng.IntN(4) {
	case 0:
	case 1:
		c.Transports = []string{}
	default:
		all := []string{"usb", "nfc", "ble", "internal", "hybrid", "", strings.Repeat("x", 200), "\x00\xff"}
		for range 1 + d.rng.IntN(4) {
			c.Transports = append(c.Transports, all[d.rng.IntN(len(all))])
		}
	}
	return c
}

// pickCount returns a signature counter for the user's device: around
// its credential's, or any.
func (d *differ) pickCount(userID, deviceID string) uint32 {
	var cur uint32
	if u := d.m.users[userID]; u != nil {
		if i := u.device(deviceID); i >= 0 && u.devices[i].Passkey != nil {
			cur = u.devices[i].Passkey.SignCount
		}
	}
	switch d.rng.IntN(6) {
	case 0:
		return 0
	case 1:
		return cur
	case 2:
		return cur + 1
	case 3:
		return cur - 1
	case 4:
		return cur + uint32(d.rng.IntN(5))
	}
	return uint32(d.rng.IntN(50))
}

func (d *differ) codeSet() mfa.RecoveryCodeSet {
	set := mfa.RecoveryCodeSet{CreatedAt: d.at(), Format: []mfa.RecoveryFormat{mfa.RecoveryFormatMFAKit, mfa.RecoveryFormatImported}[d.rng.IntN(2)]}
	if d.rng.IntN(5) > 0 {
		set.KeyID = fmt.Sprintf("key-%d", d.rng.IntN(1000))
	}
	if n := d.rng.IntN(13); n > 0 || d.rng.IntN(2) == 0 {
		set.Hashes = make([][mfa.HashSize]byte, n)
	}
	for i := range set.Hashes {
		if i > 0 && d.rng.IntN(12) == 0 {
			set.Hashes[i] = set.Hashes[d.rng.IntN(i)]
		} else {
			_, _ = d.src.Read(set.Hashes[i][:])
		}
		d.codes = append(d.codes, set.Hashes[i])
	}
	switch d.rng.IntN(10) {
	case 0, 1, 2, 3:
	case 4:
		set.Sealed = []byte{}
	default:
		set.Sealed = d.randBytes(1 + d.rng.IntN(400))
	}
	return set
}

// pickUser returns a user of the pool, half the time the one the
// sequence focuses on so that it builds up several devices.
func (d *differ) pickUser() (int, string) {
	i := d.rng.IntN(len(d.users))
	if d.rng.IntN(2) == 0 {
		i = d.seq % len(d.users)
	}
	return i, d.users[i]
}

// pickDevice returns a device ID of the user, preferring a pending one
// when pending is set, or another ID.
func (d *differ) pickDevice(userID string, pending bool) string {
	if u := d.m.users[userID]; u != nil && len(u.devices) > 0 && d.rng.IntN(10) < 8 {
		if i := slices.IndexFunc(u.devices, func(x mfa.DeviceRecord) bool { return !x.Verified }); pending && i >= 0 && d.rng.IntN(4) > 0 {
			return u.devices[i].ID
		}
		return u.devices[d.rng.IntN(len(u.devices))].ID
	}
	if len(d.devices) > 0 && d.rng.IntN(2) == 0 {
		return d.devices[d.rng.IntN(len(d.devices))]
	}
	return "no-such-device"
}

// pickPasskey returns, most of the time, a passkey device of the user,
// verified or pending as asked, when there is one; else what pickDevice
// returns.
func (d *differ) pickPasskey(userID string, verified bool) string {
	if u := d.m.users[userID]; u != nil && d.rng.IntN(4) > 0 {
		if i := slices.IndexFunc(u.devices, func(x mfa.DeviceRecord) bool { return x.Type == mfa.DevicePasskey && x.Verified == verified }); i >= 0 {
			return u.devices[i].ID
		}
	}
	return d.pickDevice(userID, !verified)
}

// pickLockout returns the user's lockout state, or a stale one.
func (d *differ) pickLockout(userID string) mfa.Lockout {
	cur := d.m.Lockout(userID)
	switch d.rng.IntN(12) {
	case 0:
		return mfa.Lockout{}
	case 1:
		return mfa.Lockout{Failures: cur.Failures + 1, LastFailure: cur.LastFailure}
	case 2:
		return mfa.Lockout{Failures: cur.Failures, LastFailure: cur.LastFailure.Add(time.Nanosecond)}
	case 3:
		if len(d.seenLk) > 0 {
			return d.seenLk[d.rng.IntN(len(d.seenLk))]
		}
	case 4:
		return mfa.Lockout{Failures: cur.Failures, LastFailure: cur.LastFailure.In(zone)}
	}
	return cur
}

func (d *differ) pickHash(userID string) [mfa.HashSize]byte {
	if u := d.m.users[userID]; u != nil && len(u.codes.Hashes) > 0 && d.rng.IntN(10) < 7 {
		return u.codes.Hashes[d.rng.IntN(len(u.codes.Hashes))]
	}
	if len(d.codes) > 0 && d.rng.IntN(2) == 0 {
		return d.codes[d.rng.IntN(len(d.codes))]
	}
	return [mfa.HashSize]byte{0xff}
}

func (d *differ) fail(format string, args ...any) {
	d.t.Helper()
	d.t.Fatalf("seed %d, sameHash %v, after op %d:\n\t%s\n%s", d.seq, d.s.sameHash, len(d.trace),
		strings.Join(d.trace[max(0, len(d.trace)-12):], "\n\t"), fmt.Sprintf(format, args...))
}

func (d *differ) sameErr(op string, got, want error) {
	d.t.Helper()
	if (want == nil) != (got == nil) || want != nil && !errors.Is(got, want) {
		d.fail("%s: error %v, want %v", op, got, want)
	}
	if d.reached != nil {
		d.reached[fmt.Sprintf("%s: %v", op, got)]++
	}
}

// step runs one random operation on both and compares what they return.
func (d *differ) step() {
	d.t.Helper()
	ui, uid := d.pickUser()
	ctx := d.ctx
	switch op := d.rng.IntN(122); {
	case op < 14:
		dev := mfa.DeviceRecord{
			ID: fmt.Sprintf("dev-%d", len(d.devices)), UserID: uid,
			Type:        []mfa.DeviceType{mfa.DeviceTOTP, mfa.DevicePasskey, mfa.DevicePasskey, "t2", "t3", "t4", "t5"}[d.rng.IntN(7)],
			Alias:       strings.Repeat("a", d.rng.IntN(3)*7),
			AccountName: strings.Repeat("acct", d.rng.IntN(40)),
			Secret:      d.secret(),
			CreatedAt:   d.at(),
			ExpiresAt:   d.at().Add(time.Duration(d.rng.IntN(16)) * time.Second),
			Algorithm:   []mfa.Algorithm{"", mfa.SHA1, mfa.SHA256, mfa.SHA512}[d.rng.IntN(4)],
			Digits:      []int{0, 6, 8}[d.rng.IntN(3)],
			Period:      time.Duration(d.rng.IntN(3)) * 30 * time.Second,
		}
		d.devices = append(d.devices, dev.ID)
		if d.rng.IntN(8) == 0 || dev.Type == mfa.DevicePasskey && d.rng.IntN(2) == 0 {
			// Kept on import, dropped from a pending device.
			c := d.credential()
			dev.Passkey = &c
		}
		if d.rng.IntN(4) == 0 {
			dev.ExpiresAt, dev.VerifiedAt = time.Time{}, d.at()
			codes := d.codeSet()
			codes.Sealed = nil
			d.trace = append(d.trace, fmt.Sprintf("ImportDevice(u%d, %s, %s, %d codes)", ui, dev.ID, dev.Type, len(codes.Hashes)))
			lim := 1 + d.rng.IntN(3)
			d.sameErr("ImportDevice", d.s.ImportDevice(ctx, dev, codes, lim), d.m.ImportDevice(dev, codes, lim))
			break
		}
		lim := 1 + d.rng.IntN(3)
		d.trace = append(d.trace, fmt.Sprintf("InsertPendingDevice(u%d, %s, %s, limit %d)", ui, dev.ID, dev.Type, lim))
		d.sameErr("InsertPendingDevice", d.s.InsertPendingDevice(ctx, dev, lim), d.m.InsertPendingDevice(dev, lim))
	case op < 28:
		id, step, at, codes, lk := d.pickDevice(uid, true), d.rng.Int64N(100), d.at(), d.codeSet(), d.pickLockout(uid)
		lim := 1 + d.rng.IntN(3)
		if d.rng.IntN(4) == 0 {
			d.trace = append(d.trace, fmt.Sprintf("SetDefaultDevice(u%d, %s)", ui, id))
			d.sameErr("SetDefaultDevice", d.s.SetDefaultDevice(ctx, uid, id), d.m.SetDefaultDevice(uid, id))
			break
		}
		d.trace = append(d.trace, fmt.Sprintf("VerifyDevice(u%d, %s, %d, %v, limit %d)", ui, id, step, lk, lim))
		d.sameErr("VerifyDevice", d.s.VerifyDevice(ctx, uid, id, step, at, codes, lk, lim), d.m.VerifyDevice(uid, id, step, at, codes, lk, lim))
	case op < 37:
		id, step, at, lk := d.pickDevice(uid, false), d.rng.Int64N(150), d.at(), d.pickLockout(uid)
		d.trace = append(d.trace, fmt.Sprintf("AcceptStep(u%d, %s, %d, %v)", ui, id, step, lk))
		d.sameErr("AcceptStep", d.s.AcceptStep(ctx, uid, id, step, at, lk), d.m.AcceptStep(uid, id, step, at, lk))
	case op < 43:
		id, secret := d.pickDevice(uid, false), d.secret()
		d.trace = append(d.trace, fmt.Sprintf("UpdateDeviceSecret(u%d, %s, %d bytes)", ui, id, len(secret)))
		d.sameErr("UpdateDeviceSecret", d.s.UpdateDeviceSecret(ctx, uid, id, secret), d.m.UpdateDeviceSecret(uid, id, secret))
	case op < 47:
		id := d.pickDevice(uid, false)
		d.trace = append(d.trace, fmt.Sprintf("DeleteDevice(u%d, %s)", ui, id))
		d.m.DeleteDevice(uid, id)
		d.sameErr("DeleteDevice", d.s.DeleteDevice(ctx, uid, id), nil)
	case op < 54:
		set := d.codeSet()
		d.trace = append(d.trace, fmt.Sprintf("ReplaceRecoveryCodes(u%d, %d hashes, sealed %v)", ui, len(set.Hashes), set.Sealed != nil))
		d.sameErr("ReplaceRecoveryCodes", d.s.ReplaceRecoveryCodes(ctx, uid, set), d.m.ReplaceRecoveryCodes(uid, set))
	case op < 62:
		h, at, lk := d.pickHash(uid), d.at(), d.pickLockout(uid)
		d.trace = append(d.trace, fmt.Sprintf("ConsumeRecoveryCode(u%d, %x, %v)", ui, h[:4], lk))
		got, err := d.s.ConsumeRecoveryCode(ctx, uid, h, at, lk)
		want, wantErr := d.m.ConsumeRecoveryCode(uid, h, lk)
		d.sameErr("ConsumeRecoveryCode", err, wantErr)
		if got != want {
			d.fail("ConsumeRecoveryCode: %d remaining, want %d", got, want)
		}
	case op < 66:
		notAfter := d.at()
		d.trace = append(d.trace, fmt.Sprintf("AcknowledgeRecoveryCodes(u%d, %v)", ui, notAfter))
		d.m.AcknowledgeRecoveryCodes(uid, notAfter)
		d.sameErr("AcknowledgeRecoveryCodes", d.s.AcknowledgeRecoveryCodes(ctx, uid, notAfter), nil)
	case op < 77:
		old, next := d.pickLockout(uid), mfa.Lockout{}
		if d.rng.IntN(3) > 0 {
			next = mfa.Lockout{Failures: d.m.Lockout(uid).Failures + 1, LastFailure: d.at().Add(time.Duration(d.rng.IntN(3)))}
		}
		d.seenLk = append(d.seenLk, next)
		d.trace = append(d.trace, fmt.Sprintf("SwapLockout(u%d, %v, %v)", ui, old, next))
		got, err := d.s.SwapLockout(ctx, uid, old, next)
		d.sameErr("SwapLockout", err, nil)
		if want := d.m.SwapLockout(uid, old, next); got != want {
			d.fail("SwapLockout = %v, want %v", got, want)
		}
	case op < 78:
		d.trace = append(d.trace, fmt.Sprintf("DeleteUser(u%d)", ui))
		d.m.DeleteUser(uid)
		d.sameErr("DeleteUser", d.s.DeleteUser(ctx, uid), nil)
	case op < 83:
		t := mfa.TokenRecord{UserID: uid, SingleUse: d.rng.IntN(2) == 0, Scopes: []string{"s"}[:d.rng.IntN(2)],
			CreatedAt: d.now, ExpiresAt: d.at().Add(time.Duration(d.rng.IntN(8)) * time.Second)}
		binary.LittleEndian.PutUint64(t.Hash[:], uint64(len(d.tokens))+1)
		d.tokens = append(d.tokens, t)
		d.trace = append(d.trace, fmt.Sprintf("InsertToken(u%d, %d)", ui, len(d.tokens)))
		d.m.InsertToken(t)
		d.sameErr("InsertToken", d.s.InsertToken(ctx, t), nil)
	case op < 88:
		// A token of the user, or now and then another user's.
		var h [mfa.HashSize]byte
		owner := uid
		if len(d.tokens) > 0 {
			t := d.tokens[d.rng.IntN(len(d.tokens))]
			h = t.Hash
			if d.rng.IntN(4) > 0 {
				owner = t.UserID
			}
		}
		at := d.at()
		d.trace = append(d.trace, fmt.Sprintf("ConsumeToken(%.20q, %x)", owner, h[:2]))
		d.sameErr("ConsumeToken", d.s.ConsumeToken(ctx, owner, h, at), d.m.ConsumeToken(owner, h, at))
	case op < 91:
		at, sealedNotAfter := d.at(), d.at()
		d.trace = append(d.trace, fmt.Sprintf("Cleanup(%v, %v)", at, sealedNotAfter))
		d.m.Cleanup(at, sealedNotAfter)
		d.sameErr("Cleanup", d.s.Cleanup(ctx, at, sealedNotAfter), nil)
	case op < 100:
		id, cred, at, codes, lk := d.pickPasskey(uid, false), d.credential(), d.at(), d.codeSet(), d.pickLockout(uid)
		lim := 1 + d.rng.IntN(3)
		d.trace = append(d.trace, fmt.Sprintf("VerifyPasskey(u%d, %s, %.12q, %v, limit %d)", ui, id, cred.ID, lk, lim))
		d.sameErr("VerifyPasskey", d.s.VerifyPasskey(ctx, uid, id, cred, at, codes, lk, lim), d.m.VerifyPasskey(uid, id, cred, at, codes, lk, lim))
	case op < 106:
		id, at, lk := d.pickPasskey(uid, true), d.at(), d.pickLockout(uid)
		count, backup := d.pickCount(uid, id), d.rng.IntN(2) == 0
		d.trace = append(d.trace, fmt.Sprintf("AcceptPasskey(u%d, %s, %d, %v, %v)", ui, id, count, backup, lk))
		d.sameErr("AcceptPasskey", d.s.AcceptPasskey(ctx, uid, id, count, backup, at, lk), d.m.AcceptPasskey(uid, id, count, backup, at, lk))
	case op < 110:
		c := mfa.ChallengeRecord{UserID: uid, Sealed: d.secret(), CreatedAt: d.at(), ExpiresAt: d.at().Add(time.Duration(d.rng.IntN(16)) * time.Second)}
		d.trace = append(d.trace, fmt.Sprintf("PutChallenge(u%d, expires %v)", ui, c.ExpiresAt))
		d.m.PutChallenge(c)
		d.sameErr("PutChallenge", d.s.PutChallenge(ctx, c), nil)
	case op < 113:
		at := d.at()
		d.trace = append(d.trace, fmt.Sprintf("TakeChallenge(u%d, %v)", ui, at))
		got, err := d.s.TakeChallenge(ctx, uid, at)
		want, wantErr := d.m.TakeChallenge(uid, at)
		d.sameErr("TakeChallenge", err, wantErr)
		if diff := diffChallenge(got, want); diff != "" {
			d.fail("TakeChallenge: %s", diff)
		}
	default:
		dt := time.Duration(d.rng.IntN(4)) * time.Second
		if d.rng.IntN(4) == 0 {
			dt += time.Duration(d.rng.IntN(1000))
		}
		d.now = d.now.Add(dt)
		d.trace = append(d.trace, fmt.Sprintf("clock +%v", dt))
	}
}

// compare checks everything the store tells about every user and token
// against the model, and the store's internal invariants.
func (d *differ) compare() {
	d.t.Helper()
	for i, uid := range d.users {
		want := d.m.LoadUser(uid, d.now)
		got, err := d.s.LoadUser(d.ctx, uid, d.now)
		if err != nil {
			d.fail("LoadUser(u%d): %v", i, err)
		}
		if diff := diffState(got, want); diff != "" {
			d.fail("LoadUser(u%d): %s", i, diff)
		}
		for _, dev := range got.Devices {
			if dev.UserID != uid {
				d.fail("LoadUser(u%d): a device of user %.20q", i, dev.UserID)
			}
		}
		if lk, err := d.s.Lockout(d.ctx, uid); err != nil || !lk.Equal(want.Lockout) {
			d.fail("Lockout(u%d) = %v, %v; want %v", i, lk, err, want.Lockout)
		}
		// The login ceremony, which no read but TakeChallenge returns.
		var wantCh *mfa.ChallengeRecord
		if u := d.m.users[uid]; u != nil {
			wantCh = u.challenge
		}
		slot, r := d.s.find(uid)
		if has := r != nil && r.challenge; has != (wantCh != nil) {
			d.fail("u%d: login ceremony kept %v, want %v", i, has, wantCh != nil)
		}
		if wantCh != nil {
			c := d.s.challenges[slot]
			got := mfa.ChallengeRecord{UserID: uid, Sealed: c.sealed, CreatedAt: c.created.time(), ExpiresAt: c.expires.time()}
			if diff := diffChallenge(got, *wantCh); diff != "" {
				d.fail("u%d: %s", i, diff)
			}
		}
		if len(d.kept) < 6 && (len(want.Devices) > 0 || want.RecoveryCodes.Hashes != nil) && d.rng.IntN(30) == 0 {
			st, err := d.s.LoadUser(d.ctx, uid, d.now)
			if err != nil {
				d.fail("LoadUser(u%d): %v", i, err)
			}
			d.kept, d.copies = append(d.kept, st), append(d.copies, cloneState(st))
		}
	}
	for _, t := range d.tokens {
		h := t.Hash
		got, err := d.s.Token(d.ctx, t.UserID, h)
		want, ok := d.m.tokens[h]
		switch {
		case ok && err == nil:
			if got.Hash != want.Hash || got.UserID != want.UserID || got.SingleUse != want.SingleUse ||
				!slices.Equal(got.Scopes, want.Scopes) || !got.CreatedAt.Equal(want.CreatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) {
				d.fail("Token(%x) = %+v, want %+v", h[:2], got, want)
			}
		case ok && d.now.Before(want.ExpiresAt) || !errors.Is(err, mfa.ErrTokenInvalid):
			d.fail("Token(%x): %v; want %+v (present %v)", h[:2], err, want, ok)
		}
	}
	if msg := checkInvariants(d.s); msg != "" {
		d.fail("invariant: %s", msg)
	}
	users := make(map[string]bool)
	for slot := int32(1); slot < d.s.nslot; slot++ {
		if r := d.s.rec(slot); r.inUse {
			uid := d.s.userID(r)
			if users[uid] || d.m.users[uid] == nil {
				d.fail("slot %d holds user %.20q, which the model does not know or holds twice", slot, uid)
			}
			users[uid] = true
		}
	}
	if len(users) != len(d.m.users) {
		d.fail("the store holds %d users, the model %d", len(users), len(d.m.users))
	}
}

// TestDifferential runs random sequences of every Store operation on a
// Store and on a plain model of the contract in store.go, half of them
// with every user ID in one collision chain, with user IDs inline, just
// past inline and long, a clock that expires pending devices and tokens,
// and values large enough that the arenas compact. After each operation
// it compares the results, every user's LoadUser and Lockout and every
// token, and checks the store's internal invariants; after each sequence
// it checks that the values LoadUser handed out earlier never changed.
func TestDifferential(t *testing.T) {
	seeds, ops := 200, 400
	if testing.Short() {
		seeds = 40
	}
	users := []string{
		"", "a", "bob",
		strings.Repeat("i", uidInline), strings.Repeat("i", uidInline-1) + "j",
		strings.Repeat("l", uidInline+1),
		strings.Repeat("long", 50), strings.Repeat("long", 49) + "lonG",
	}
	compacted := 0
	reached := make(map[string]int)
	for seq := range seeds {
		var key [32]byte
		binary.LittleEndian.PutUint64(key[:], uint64(seq))
		src := rand.NewChaCha8(key)
		d := &differ{
			t: t, ctx: context.Background(), rng: rand.New(src), src: src,
			s: New(), m: newModel(), users: users, seq: seq,
			now: time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC), reached: reached,
		}
		d.s.sameHash = seq%2 == 1
		didCompact := false
		for range ops {
			dead := d.s.text.dead + d.s.bytes.dead + d.s.hashes.dead
			d.step()
			if d.s.text.dead+d.s.bytes.dead+d.s.hashes.dead < dead {
				didCompact = true
			}
			d.compare()
		}
		for i := range d.kept {
			if diff := diffState(d.kept[i], d.copies[i]); diff != "" {
				d.fail("a value LoadUser handed out changed: %s", diff)
			}
		}
		if didCompact {
			compacted++
		}
	}
	t.Logf("%d of %d sequences compacted the arenas", compacted, seeds)
	// The sequences reach every outcome of the passkey operations.
	for _, o := range []string{
		"ImportDevice: " + mfa.ErrPasskeyRegistered.Error(),
		"VerifyPasskey: <nil>",
		"VerifyPasskey: " + mfa.ErrLockoutChanged.Error(),
		"VerifyPasskey: " + mfa.ErrDeviceNotFound.Error(),
		"VerifyPasskey: " + mfa.ErrCodeReused.Error(),
		"VerifyPasskey: " + mfa.ErrDeviceLimit.Error(),
		"VerifyPasskey: " + mfa.ErrPasskeyRegistered.Error(),
		"AcceptPasskey: <nil>",
		"AcceptPasskey: " + mfa.ErrLockoutChanged.Error(),
		"AcceptPasskey: " + mfa.ErrDeviceNotFound.Error(),
		"AcceptPasskey: " + mfa.ErrCodeReused.Error(),
		"TakeChallenge: <nil>",
		"TakeChallenge: " + mfa.ErrChallengeInvalid.Error(),
	} {
		if reached[o] < seeds/20 {
			t.Errorf("%d results %q in %d sequences; the operations do not reach it", reached[o], o, seeds)
		}
	}
	if compacted < seeds/4 {
		t.Fatalf("only %d of %d sequences compacted the arenas", compacted, seeds)
	}
}

// TestHugeUserIDAndManyDevices checks a user ID of 70,000 bytes, past
// any 16-bit length, through insertion, loading, lockout, deletion and a
// Cleanup that must finish, in a chain with other users or alone; and
// that a user keeps 300 verified devices of distinct types.
func TestHugeUserIDAndManyDevices(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	cleanup := func(t *testing.T, s *Store, at time.Time) {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- s.Cleanup(ctx, at, at) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Cleanup did not return within 5s")
		}
		if msg := checkInvariants(s); msg != "" {
			t.Fatal(msg)
		}
	}
	for _, sameHash := range []bool{false, true} {
		t.Run(fmt.Sprintf("sameHash=%v", sameHash), func(t *testing.T) {
			s := New()
			s.sameHash = sameHash
			huge := strings.Repeat("0123456789", 7000)
			twin := huge[:len(huge)-1] + "x"
			for _, u := range []string{"before", twin} {
				if ok, err := s.SwapLockout(ctx, u, mfa.Lockout{}, mfa.Lockout{Failures: 1, LastFailure: now}); !ok || err != nil {
					t.Fatal(ok, err)
				}
			}
			dev := mfa.DeviceRecord{ID: "huge-dev", UserID: huge, Type: mfa.DeviceTOTP, Secret: []byte("sealed"), CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
			if err := s.InsertPendingDevice(ctx, dev, 1); err != nil {
				t.Fatal(err)
			}
			if ok, err := s.SwapLockout(ctx, "after", mfa.Lockout{}, mfa.Lockout{Failures: 1, LastFailure: now}); !ok || err != nil {
				t.Fatal(ok, err)
			}
			st, err := s.LoadUser(ctx, huge, now)
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Devices) != 1 || st.Devices[0].UserID != huge || st.Devices[0].ID != "huge-dev" || string(st.Devices[0].Secret) != "sealed" {
				t.Fatalf("LoadUser of the huge user: %d devices", len(st.Devices))
			}
			var lk mfa.Lockout
			for i := 1; i <= 5; i++ {
				next := mfa.Lockout{Failures: i, LastFailure: now.Add(time.Duration(i) * time.Second)}
				if ok, err := s.SwapLockout(ctx, huge, lk, next); !ok || err != nil {
					t.Fatalf("failure %d: %v, %v", i, ok, err)
				}
				lk = next
			}
			if got, err := s.Lockout(ctx, huge); err != nil || !got.Equal(lk) {
				t.Fatalf("Lockout = %v, %v; want %v", got, err, lk)
			}
			if got, err := s.Lockout(ctx, twin); err != nil || got.Failures != 1 {
				t.Fatalf("Lockout of the twin = %v, %v", got, err)
			}
			if msg := checkInvariants(s); msg != "" {
				t.Fatal(msg)
			}
			if err := s.DeleteUser(ctx, huge); err != nil {
				t.Fatal(err)
			}
			if st, err := s.LoadUser(ctx, huge, now); err != nil || len(st.Devices) != 0 || st.Lockout.Failures != 0 {
				t.Fatalf("after DeleteUser: %d devices, %v, %v", len(st.Devices), st.Lockout, err)
			}
			cleanup(t, s, now)

			if err := s.InsertPendingDevice(ctx, dev, 1); err != nil {
				t.Fatal(err)
			}
			cleanup(t, s, now.Add(time.Hour))
			if _, r := s.find(huge); r != nil {
				t.Fatal("Cleanup kept the huge user whose only device expired")
			}
			for _, u := range []string{"before", twin, "after"} {
				if got, err := s.Lockout(ctx, u); err != nil || got.Failures != 1 {
					t.Fatalf("Lockout(%.10q) = %v, %v", u, got, err)
				}
			}
		})
	}

	t.Run("300 devices", func(t *testing.T) {
		s := New()
		const n = 300
		for i := range n {
			dev := mfa.DeviceRecord{
				ID: fmt.Sprintf("d%d", i), UserID: "many", Type: mfa.DeviceType(fmt.Sprintf("type-%d", i)),
				Secret: []byte{byte(i), byte(i >> 8)}, CreatedAt: now, ExpiresAt: now.Add(time.Minute),
			}
			if err := s.InsertPendingDevice(ctx, dev, 1); err != nil {
				t.Fatal(err)
			}
			if err := s.VerifyDevice(ctx, "many", dev.ID, int64(i), now, mfa.RecoveryCodeSet{KeyID: "k"}, mfa.Lockout{}, 1); err != nil {
				t.Fatalf("device %d: %v", i, err)
			}
		}
		st, err := s.LoadUser(ctx, "many", now)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Devices) != n {
			t.Fatalf("LoadUser: %d devices, want %d", len(st.Devices), n)
		}
		for i, d := range st.Devices {
			if d.ID != fmt.Sprintf("d%d", i) || string(d.Type) != fmt.Sprintf("type-%d", i) || !d.Verified || d.LastStep != int64(i) || !bytes.Equal(d.Secret, []byte{byte(i), byte(i >> 8)}) {
				t.Fatalf("device %d is %+v", i, d)
			}
		}
		last := mfa.DeviceRecord{ID: "again", UserID: "many", Type: mfa.DeviceType(fmt.Sprintf("type-%d", n-1)), CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
		if err := s.InsertPendingDevice(ctx, last, 1); !errors.Is(err, mfa.ErrDeviceLimit) {
			t.Fatalf("a second device of the last type: %v", err)
		}
		if err := s.DeleteDevice(ctx, "many", "d0"); err != nil {
			t.Fatal(err)
		}
		if st, err := s.LoadUser(ctx, "many", now); err != nil || len(st.Devices) != n-1 || st.Devices[0].ID != "d1" || st.Devices[n-2].ID != fmt.Sprintf("d%d", n-1) {
			t.Fatalf("after deleting the first: %d devices, %v", len(st.Devices), err)
		}
		if msg := checkInvariants(s); msg != "" {
			t.Fatal(msg)
		}
	})
}
