package memstore

import (
	"encoding/binary"
	"strings"
	"time"

	"github.com/mfakit/mfa"
)

// The state of enrolled users holds no Go pointers: records sit in large
// arrays of plain values, and their strings and byte slices in append-only
// arenas, referred to by offset. The garbage collector then has a few large
// objects to mark, however many users the store holds, and the cost of a
// call does not grow with the store.

// uidInline is the longest user ID kept in the record itself, so that
// finding a user reads no other memory. A UUID in text form fits.
const uidInline = 48

// slotChunk is the number of records allocated at a time.
const slotChunk = 1024

// record is one user's state: the lockout, the first device and the
// recovery code set. Further devices are in Store.spill, the credentials
// of passkey devices in Store.passkeys, the sealed plaintext of codes
// awaiting acknowledgement in Store.sealed, so that acknowledging drops it
// at once, and a login ceremony in progress in Store.challenges. The zero
// record is a free slot.
type record struct {
	inUse     bool
	pending   bool   // recovery codes await acknowledgement, in Store.sealed
	challenge bool   // a login ceremony is in progress, in Store.challenges
	ndev      int32  // devices, the first in dev
	uidLen    uint32 // length of the user ID
	next      int32  // next slot whose user ID has the same hash; 0 for none
	uid       [uidInline]byte
	uidText   ref // the user ID, when longer than uidInline

	failures    int
	lastFailure stamp
	dev         [1]device

	codeKey     ref // text
	codeFormat  ref // text
	codeHashes  ref // hashes
	codeCreated stamp
}

// device is a DeviceRecord without its user ID, the key of its record.
type device struct {
	lastStep  int64
	verified  bool
	isDefault bool
	secret    ref // bytes
	id        ref // text
	typ       ref // text
	alias     ref // text
	account   ref // text

	created    stamp
	expires    stamp
	verifiedAt stamp
	lastUsed   stamp

	alg    ref // text
	digits int32
	period time.Duration

	pk int32 // the passkey credential, in Store.passkeys; 0 for none
}

// passkeyChunk is the number of passkey credentials allocated at a time.
const passkeyChunk = 1024

// passkey is the credential of a verified passkey device. Passkeys are
// kept apart from devices, which are in every record, since most devices
// are not passkeys. The zero passkey is a free one.
type passkey struct {
	slot int32 // the record of the device's user
	next int32 // next passkey whose credential ID has the same hash; 0 for none

	id         ref // bytes
	userHandle ref // bytes
	publicKey  ref // bytes
	transports ref // text, as encodeTransports makes it
	attType    ref // text
	attFormat  ref // text

	signCount      uint32
	aaguid         [16]byte
	backupEligible bool
	backupState    bool
	userVerified   bool
}

// challenge is a user's login ceremony in progress. The sealed session is
// kept as given rather than in an arena: ceremonies are short-lived, and
// taking one drops it at once.
type challenge struct {
	sealed  []byte
	created stamp
	expires stamp
}

// stamp is a time.Time without its location or monotonic reading.
type stamp struct {
	sec  int64
	nsec int32 // nanoseconds plus one; 0 for the zero time
}

func stampOf(t time.Time) stamp {
	if t.IsZero() {
		return stamp{}
	}
	return stamp{sec: t.Unix(), nsec: int32(t.Nanosecond()) + 1}
}

// time returns the stamp's time, in UTC.
func (s stamp) time() time.Time {
	if s.nsec == 0 {
		return time.Time{}
	}
	return time.Unix(s.sec, int64(s.nsec-1)).UTC()
}

// ref locates a value in an arena.
type ref struct {
	chunk, off uint32
	n          uint32 // length plus one; 0 for nil or the empty string
}

func (r ref) len() int {
	if r.n == 0 {
		return 0
	}
	return int(r.n - 1)
}

// arenaChunk is the size of an arena's chunks in bytes; a larger value
// gets a chunk of its own.
const arenaChunk = 16 << 10

// textArena keeps strings. Each chunk is written by a strings.Builder and
// only ever appended to, so a string handed out stays valid and unchanged
// for as long as it is referenced, whatever the store does afterwards.
type textArena struct {
	chunks []string         // everything written to each chunk so far
	cur    *strings.Builder // writes the last chunk
	live   int              // bytes referenced by records
	dead   int              // bytes no longer referenced
}

func (a *textArena) add(s string) ref {
	if s == "" {
		return ref{}
	}
	if a.cur == nil || a.cur.Cap()-a.cur.Len() < len(s) {
		a.cur = new(strings.Builder)
		a.cur.Grow(max(arenaChunk, len(s)))
		a.chunks = append(a.chunks, "")
	}
	off := a.cur.Len()
	a.cur.WriteString(s)
	last := len(a.chunks) - 1
	a.chunks[last] = a.cur.String()
	a.live += len(s)
	return ref{chunk: uint32(last), off: uint32(off), n: uint32(len(s)) + 1}
}

func (a *textArena) get(r ref) string {
	if r.n == 0 {
		return ""
	}
	return a.chunks[r.chunk][r.off : r.off+r.n-1]
}

func (a *textArena) drop(r ref) {
	a.live -= r.len()
	a.dead += r.len()
}

// sliceArena keeps slices of a type without pointers. Chunks are only ever
// appended to, within their capacity, and a slice handed out has its
// capacity cut at its length, so it stays unchanged for as long as it is
// referenced.
type sliceArena[E any] struct {
	chunks    [][]E
	chunkLen  int // elements per chunk
	live      int // elements referenced by records
	dead      int // elements no longer referenced
	elemBytes int // for the garbage threshold
}

// add stores the concatenation of parts; a nil first part with no other
// is stored as nil.
func (a *sliceArena[E]) add(parts ...[]E) ref {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if n == 0 {
		if len(parts) == 1 && parts[0] == nil {
			return ref{}
		}
		return ref{n: 1}
	}
	last := len(a.chunks) - 1
	if last < 0 || cap(a.chunks[last])-len(a.chunks[last]) < n {
		a.chunks = append(a.chunks, make([]E, 0, max(a.chunkLen, n)))
		last++
	}
	c := a.chunks[last]
	off := len(c)
	for _, p := range parts {
		c = append(c, p...)
	}
	a.chunks[last] = c
	a.live += n
	return ref{chunk: uint32(last), off: uint32(off), n: uint32(n) + 1}
}

func (a *sliceArena[E]) get(r ref) []E {
	switch r.n {
	case 0:
		return nil
	case 1:
		return []E{}
	}
	end := r.off + r.n - 1
	return a.chunks[r.chunk][r.off:end:end]
}

func (a *sliceArena[E]) drop(r ref) {
	a.live -= r.len()
	a.dead += r.len()
}

// minGarbage is the dead bytes the arenas may hold before a compaction
// whatever their size.
const minGarbage = 64 << 10

// arenas are the three arenas of a store.
type arenas struct {
	text   textArena
	bytes  sliceArena[byte]
	hashes sliceArena[[mfa.HashSize]byte]
}

func newArenas() arenas {
	return arenas{
		bytes:  sliceArena[byte]{chunkLen: arenaChunk, elemBytes: 1},
		hashes: sliceArena[[mfa.HashSize]byte]{chunkLen: arenaChunk / mfa.HashSize, elemBytes: mfa.HashSize},
	}
}

// loadDevice sets *dst to d as a DeviceRecord of userID. Its strings and
// Secret share the arenas' memory. The fields are set one by one: dst is
// in the caller's memory, and building a whole record first would copy it
// twice.
func (a *arenas) loadDevice(dst *mfa.DeviceRecord, userID string, d *device) {
	dst.ID = a.text.get(d.id)
	dst.UserID = userID
	dst.Type = mfa.DeviceType(a.text.get(d.typ))
	dst.Alias = a.text.get(d.alias)
	dst.AccountName = a.text.get(d.account)
	dst.Secret = a.bytes.get(d.secret)
	dst.Verified = d.verified
	dst.CreatedAt = d.created.time()
	dst.ExpiresAt = d.expires.time()
	dst.VerifiedAt = d.verifiedAt.time()
	dst.LastUsedAt = d.lastUsed.time()
	dst.LastStep = d.lastStep
	dst.Default = d.isDefault
	dst.Algorithm = mfa.Algorithm(a.text.get(d.alg))
	dst.Digits = int(d.digits)
	dst.Period = d.period
	dst.Passkey = nil // the Store sets it from d.pk
}

// newDevice stores the values of r.
func (a *arenas) newDevice(r mfa.DeviceRecord) device {
	return device{
		lastStep:   r.LastStep,
		verified:   r.Verified,
		isDefault:  r.Default,
		secret:     a.bytes.add(r.Secret),
		id:         a.text.add(r.ID),
		typ:        a.text.add(string(r.Type)),
		alias:      a.text.add(r.Alias),
		account:    a.text.add(r.AccountName),
		created:    stampOf(r.CreatedAt),
		expires:    stampOf(r.ExpiresAt),
		verifiedAt: stampOf(r.VerifiedAt),
		lastUsed:   stampOf(r.LastUsedAt),
		alg:        a.text.add(string(r.Algorithm)),
		digits:     int32(r.Digits),
		period:     r.Period,
	}
}

// dropDevice counts d's values as garbage.
func (a *arenas) dropDevice(d *device) {
	a.bytes.drop(d.secret)
	for _, r := range [...]ref{d.id, d.typ, d.alias, d.account, d.alg} {
		a.text.drop(r)
	}
}

// moveDevice copies d's values from a to b.
func (a *arenas) moveDevice(b *arenas, d *device) {
	d.secret = b.bytes.add(a.bytes.get(d.secret))
	d.id = b.text.add(a.text.get(d.id))
	d.typ = b.text.add(a.text.get(d.typ))
	d.alias = b.text.add(a.text.get(d.alias))
	d.account = b.text.add(a.text.get(d.account))
	d.alg = b.text.add(a.text.get(d.alg))
}

// newPasskey stores the values of cred for the user in slot; the Store
// links it into its index.
func (a *arenas) newPasskey(slot int32, cred *mfa.PasskeyCredential) passkey {
	return passkey{
		slot:           slot,
		id:             a.bytes.add(cred.ID),
		userHandle:     a.bytes.add(cred.UserHandle),
		publicKey:      a.bytes.add(cred.PublicKey),
		transports:     a.text.add(encodeTransports(cred.Transports)),
		attType:        a.text.add(cred.AttestationType),
		attFormat:      a.text.add(cred.AttestationFormat),
		signCount:      cred.SignCount,
		aaguid:         cred.AAGUID,
		backupEligible: cred.BackupEligible,
		backupState:    cred.BackupState,
		userVerified:   cred.UserVerified,
	}
}

// loadPasskey returns p as a credential of its own. Its byte slices and
// strings share the arenas' memory.
func (a *arenas) loadPasskey(p *passkey) *mfa.PasskeyCredential {
	return &mfa.PasskeyCredential{
		ID:                a.bytes.get(p.id),
		UserHandle:        a.bytes.get(p.userHandle),
		PublicKey:         a.bytes.get(p.publicKey),
		SignCount:         p.signCount,
		AAGUID:            p.aaguid,
		Transports:        decodeTransports(a.text.get(p.transports)),
		BackupEligible:    p.backupEligible,
		BackupState:       p.backupState,
		UserVerified:      p.userVerified,
		AttestationType:   a.text.get(p.attType),
		AttestationFormat: a.text.get(p.attFormat),
	}
}

// dropPasskey counts p's values as garbage.
func (a *arenas) dropPasskey(p *passkey) {
	for _, r := range [...]ref{p.id, p.userHandle, p.publicKey} {
		a.bytes.drop(r)
	}
	for _, r := range [...]ref{p.transports, p.attType, p.attFormat} {
		a.text.drop(r)
	}
}

// movePasskey copies p's values from a to b.
func (a *arenas) movePasskey(b *arenas, p *passkey) {
	p.id = b.bytes.add(a.bytes.get(p.id))
	p.userHandle = b.bytes.add(a.bytes.get(p.userHandle))
	p.publicKey = b.bytes.add(a.bytes.get(p.publicKey))
	p.transports = b.text.add(a.text.get(p.transports))
	p.attType = b.text.add(a.text.get(p.attType))
	p.attFormat = b.text.add(a.text.get(p.attFormat))
}

// encodeTransports writes ts as one string: their number, then each
// one's length and bytes, the numbers as uvarints. A nil ts is "", so
// that nil and empty stay apart.
func encodeTransports(ts []string) string {
	if ts == nil {
		return ""
	}
	b := binary.AppendUvarint(nil, uint64(len(ts)))
	for _, t := range ts {
		b = binary.AppendUvarint(b, uint64(len(t)))
		b = append(b, t...)
	}
	return string(b)
}

// decodeTransports reads what encodeTransports wrote; the strings share
// s's memory.
func decodeTransports(s string) []string {
	if s == "" {
		return nil
	}
	n, s := uvarint(s)
	ts := make([]string, n)
	for i := range ts {
		var l uint64
		l, s = uvarint(s)
		ts[i], s = s[:l], s[l:]
	}
	return ts
}

// uvarint reads the uvarint that starts s and returns the rest.
func uvarint(s string) (uint64, string) {
	var x uint64
	for i := 0; ; i++ {
		b := s[i]
		x |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			return x, s[i+1:]
		}
	}
}

// wasteful reports whether the garbage in the arenas outweighs the work
// of a compaction, which copies what is live and visits every one of
// slots records: compacting then costs no more than writing the garbage
// did.
func (a *arenas) wasteful(slots int) bool {
	dead := a.text.dead + a.bytes.dead + a.hashes.dead*a.hashes.elemBytes
	live := a.text.live + a.bytes.live + a.hashes.live*a.hashes.elemBytes
	return dead > minGarbage && dead > live+slots*recordCost
}

// recordCost is what visiting a record weighs in a compaction, in bytes
// copied.
const recordCost = 64
