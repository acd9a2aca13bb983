package mfaotel

import (
	"context"
	"errors"
	"time"

	"github.com/mfakit/mfa"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Attributes of the store spans.
const (
	methodKey    = attribute.Key("mfa.store.method")
	outcomeKey   = attribute.Key("mfa.store.outcome")
	errorTypeKey = attribute.Key("error.type") // semantic conventions
)

// WrapStore returns a Store that passes every call to s in a span of its
// own, created with a tracer of tp (nil: the global TracerProvider). The
// returned Store implements mfa.Cleaner exactly when s does. The package
// documentation lists the spans' names and attributes; opts can add the
// user ID to them, which is left out by default.
func WrapStore(s mfa.Store, tp trace.TracerProvider, opts ...Option) mfa.Store {
	if s == nil {
		panic("mfaotel: WrapStore of a nil Store")
	}
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	w := &store{Store: s, tracer: tp.Tracer(ScopeName), cfg: newConfig(opts)}
	return w.withOptional()
}

// store is the wrapper of a store that implements none of mfa's optional
// interfaces. It embeds the inner store so that a method that a later
// version of mfa.Store adds still reaches it, without a span, until the
// wrapper traces it; TestEveryMethodTraced names any such method.
type store struct {
	mfa.Store
	tracer trace.Tracer
	cfg    config
}

// withOptional returns s as a value that implements the optional
// interfaces of mfa that the inner store implements, and no others: a wrapper
// claiming mfa.Cleaner for a store that is none would turn MFA.Cleanup's
// "nothing to do" into a failure.
//
// Each optional interface has a type that implements it over *store (such
// as cleaner), and each combination of them a wrapper type that embeds
// *store and those types. A new optional interface needs its type, a
// wrapper type for each combination with the others, a case here, an entry
// in optionalInterfaces in store_test.go and inner stores with and without
// it in TestOptionalInterfaces. TestOptionalInterfacesListed fails while
// mfa's store.go declares an optional interface that the list lacks.
func (s *store) withOptional() mfa.Store {
	if c, ok := s.Store.(mfa.Cleaner); ok {
		return &cleanerStore{store: s, cleaner: cleaner{s, c}}
	}
	return s
}

// cleanerStore is the wrapper of a store that implements mfa.Cleaner.
type cleanerStore struct {
	*store
	cleaner
}

// cleaner traces mfa.Cleaner.
type cleaner struct {
	s     *store
	inner mfa.Cleaner
}

// Cleanup implements mfa.Cleaner.
func (c cleaner) Cleanup(ctx context.Context, now, sealedNotAfter time.Time) error {
	ctx, span := c.s.start(ctx, "mfa.store.Cleanup", "")
	err := c.inner.Cleanup(ctx, now, sealedNotAfter)
	end(span, err)
	return err
}

// spanPrefix starts the name of every span, which the method ends.
const spanPrefix = "mfa.store."

// start starts the span of a call about userID ("" for none); name is
// spanPrefix and the method.
func (s *store) start(ctx context.Context, name, userID string) (context.Context, trace.Span) {
	method := name[len(spanPrefix):]
	ctx, span := s.tracer.Start(ctx, name, trace.WithAttributes(methodKey.String(method)))
	if s.cfg.userID != nil && userID != "" && span.IsRecording() {
		span.SetAttributes(s.cfg.userID(userID))
	}
	return ctx, span
}

// outcomes are the errors the Store contract documents as results rather
// than failures.
var outcomes = []*mfa.Error{
	mfa.ErrCodeReused, mfa.ErrInvalidCode, mfa.ErrDeviceNotFound, mfa.ErrDeviceLimit,
	mfa.ErrNoDevice, mfa.ErrTokenInvalid, mfa.ErrPasskeyRegistered, mfa.ErrChallengeInvalid,
}

// end ends a call's span: err, when it is not nil, is either an outcome,
// recorded as mfa.store.outcome, or a failure, which sets error.type and
// the Error status.
func end(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		if o := outcome(err); o != "" {
			span.SetAttributes(outcomeKey.String(o))
		} else {
			span.SetAttributes(errorTypeKey.String(errorType(err)))
			span.SetStatus(codes.Error, err.Error())
		}
	}
	span.End()
}

// outcome returns the outcome err reports, or "" when err is a failure.
func outcome(err error) string {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return ""
	}
	if errors.Is(err, mfa.ErrLockoutChanged) {
		return "lockout_changed"
	}
	for _, o := range outcomes {
		if errors.Is(err, o) {
			return o.Code
		}
	}
	return ""
}

// errorType returns the error.type of a failure.
func errorType(err error) string {
	switch {
	case errors.Is(err, context.Canceled):
		return "context.Canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "context.DeadlineExceeded"
	}
	if code := mfa.ErrorCode(err); code != "" {
		return code
	}
	return "_OTHER"
}

// LoadUser implements mfa.UserStore.
func (s *store) LoadUser(ctx context.Context, userID string, now time.Time) (mfa.UserState, error) {
	ctx, span := s.start(ctx, "mfa.store.LoadUser", userID)
	st, err := s.Store.LoadUser(ctx, userID, now)
	end(span, err)
	return st, err
}

// DeleteUser implements mfa.UserStore.
func (s *store) DeleteUser(ctx context.Context, userID string) error {
	ctx, span := s.start(ctx, "mfa.store.DeleteUser", userID)
	err := s.Store.DeleteUser(ctx, userID)
	end(span, err)
	return err
}

// InsertPendingDevice implements mfa.DeviceStore.
func (s *store) InsertPendingDevice(ctx context.Context, d mfa.DeviceRecord, limit int) error {
	ctx, span := s.start(ctx, "mfa.store.InsertPendingDevice", d.UserID)
	err := s.Store.InsertPendingDevice(ctx, d, limit)
	end(span, err)
	return err
}

// ImportDevice implements mfa.DeviceStore.
func (s *store) ImportDevice(ctx context.Context, d mfa.DeviceRecord, codes mfa.RecoveryCodeSet, limit int) error {
	ctx, span := s.start(ctx, "mfa.store.ImportDevice", d.UserID)
	err := s.Store.ImportDevice(ctx, d, codes, limit)
	end(span, err)
	return err
}

// SetDefaultDevice implements mfa.DeviceStore.
func (s *store) SetDefaultDevice(ctx context.Context, userID, deviceID string) error {
	ctx, span := s.start(ctx, "mfa.store.SetDefaultDevice", userID)
	err := s.Store.SetDefaultDevice(ctx, userID, deviceID)
	end(span, err)
	return err
}

// VerifyDevice implements mfa.DeviceStore.
func (s *store) VerifyDevice(ctx context.Context, userID, deviceID string, step int64, at time.Time, codes mfa.RecoveryCodeSet, lk mfa.Lockout, limit int) error {
	ctx, span := s.start(ctx, "mfa.store.VerifyDevice", userID)
	err := s.Store.VerifyDevice(ctx, userID, deviceID, step, at, codes, lk, limit)
	end(span, err)
	return err
}

// AcceptStep implements mfa.DeviceStore.
func (s *store) AcceptStep(ctx context.Context, userID, deviceID string, step int64, at time.Time, lk mfa.Lockout) error {
	ctx, span := s.start(ctx, "mfa.store.AcceptStep", userID)
	err := s.Store.AcceptStep(ctx, userID, deviceID, step, at, lk)
	end(span, err)
	return err
}

// UpdateDeviceSecret implements mfa.DeviceStore.
func (s *store) UpdateDeviceSecret(ctx context.Context, userID, deviceID string, secret []byte) error {
	ctx, span := s.start(ctx, "mfa.store.UpdateDeviceSecret", userID)
	err := s.Store.UpdateDeviceSecret(ctx, userID, deviceID, secret)
	end(span, err)
	return err
}

// DeleteDevice implements mfa.DeviceStore.
func (s *store) DeleteDevice(ctx context.Context, userID, deviceID string) error {
	ctx, span := s.start(ctx, "mfa.store.DeleteDevice", userID)
	err := s.Store.DeleteDevice(ctx, userID, deviceID)
	end(span, err)
	return err
}

// ReplaceRecoveryCodes implements mfa.RecoveryCodeStore.
func (s *store) ReplaceRecoveryCodes(ctx context.Context, userID string, set mfa.RecoveryCodeSet) error {
	ctx, span := s.start(ctx, "mfa.store.ReplaceRecoveryCodes", userID)
	err := s.Store.ReplaceRecoveryCodes(ctx, userID, set)
	end(span, err)
	return err
}

// ConsumeRecoveryCode implements mfa.RecoveryCodeStore.
func (s *store) ConsumeRecoveryCode(ctx context.Context, userID string, hash [mfa.HashSize]byte, at time.Time, lk mfa.Lockout) (int, error) {
	ctx, span := s.start(ctx, "mfa.store.ConsumeRecoveryCode", userID)
	remaining, err := s.Store.ConsumeRecoveryCode(ctx, userID, hash, at, lk)
	end(span, err)
	return remaining, err
}

// AcknowledgeRecoveryCodes implements mfa.RecoveryCodeStore.
func (s *store) AcknowledgeRecoveryCodes(ctx context.Context, userID string, notAfter time.Time) error {
	ctx, span := s.start(ctx, "mfa.store.AcknowledgeRecoveryCodes", userID)
	err := s.Store.AcknowledgeRecoveryCodes(ctx, userID, notAfter)
	end(span, err)
	return err
}

// InsertToken implements mfa.TokenStore.
func (s *store) InsertToken(ctx context.Context, t mfa.TokenRecord) error {
	ctx, span := s.start(ctx, "mfa.store.InsertToken", t.UserID)
	err := s.Store.InsertToken(ctx, t)
	end(span, err)
	return err
}

// Token implements mfa.TokenStore.
func (s *store) Token(ctx context.Context, userID string, hash [mfa.HashSize]byte) (mfa.TokenRecord, error) {
	ctx, span := s.start(ctx, "mfa.store.Token", userID)
	t, err := s.Store.Token(ctx, userID, hash)
	end(span, err)
	return t, err
}

// ConsumeToken implements mfa.TokenStore.
func (s *store) ConsumeToken(ctx context.Context, userID string, hash [mfa.HashSize]byte, now time.Time) error {
	ctx, span := s.start(ctx, "mfa.store.ConsumeToken", userID)
	err := s.Store.ConsumeToken(ctx, userID, hash, now)
	end(span, err)
	return err
}

// Lockout implements mfa.LockoutStore.
func (s *store) Lockout(ctx context.Context, userID string) (mfa.Lockout, error) {
	ctx, span := s.start(ctx, "mfa.store.Lockout", userID)
	lk, err := s.Store.Lockout(ctx, userID)
	end(span, err)
	return lk, err
}

// SwapLockout implements mfa.LockoutStore.
func (s *store) SwapLockout(ctx context.Context, userID string, old, next mfa.Lockout) (bool, error) {
	ctx, span := s.start(ctx, "mfa.store.SwapLockout", userID)
	ok, err := s.Store.SwapLockout(ctx, userID, old, next)
	end(span, err)
	return ok, err
}

// VerifyPasskey implements mfa.PasskeyStore.
func (s *store) VerifyPasskey(ctx context.Context, userID, deviceID string, cred mfa.PasskeyCredential, at time.Time, codes mfa.RecoveryCodeSet, lk mfa.Lockout, limit int) error {
	ctx, span := s.start(ctx, "mfa.store.VerifyPasskey", userID)
	err := s.Store.VerifyPasskey(ctx, userID, deviceID, cred, at, codes, lk, limit)
	end(span, err)
	return err
}

// AcceptPasskey implements mfa.PasskeyStore.
func (s *store) AcceptPasskey(ctx context.Context, userID, deviceID string, signCount uint32, backupState bool, at time.Time, lk mfa.Lockout) error {
	ctx, span := s.start(ctx, "mfa.store.AcceptPasskey", userID)
	err := s.Store.AcceptPasskey(ctx, userID, deviceID, signCount, backupState, at, lk)
	end(span, err)
	return err
}

// PutChallenge implements mfa.PasskeyStore.
func (s *store) PutChallenge(ctx context.Context, c mfa.ChallengeRecord) error {
	ctx, span := s.start(ctx, "mfa.store.PutChallenge", c.UserID)
	err := s.Store.PutChallenge(ctx, c)
	end(span, err)
	return err
}

// TakeChallenge implements mfa.PasskeyStore.
func (s *store) TakeChallenge(ctx context.Context, userID string, now time.Time) (mfa.ChallengeRecord, error) {
	ctx, span := s.start(ctx, "mfa.store.TakeChallenge", userID)
	c, err := s.Store.TakeChallenge(ctx, userID, now)
	end(span, err)
	return c, err
}
