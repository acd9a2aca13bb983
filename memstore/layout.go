package memstore

import (
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
// recovery code set. Further devices, which a user of mfa never has, are in
// Store.spill, and the sealed plaintext of codes awaiting acknowledgement
// in Store.sealed, so that acknowledging drops it at once. The zero record
// is a free slot.
type record struct {
	inUse   bool
	pending bool   // recovery codes await acknowledgement, in Store.sealed
	ndev    int32  // devices, the first in dev
	uidLen  uint32 // length of the user ID
	next    int32  // next slot whose user ID has the same hash; 0 for none
	uid     [uidInline]byte
	uidText ref // the user ID, when longer than uidInline

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
