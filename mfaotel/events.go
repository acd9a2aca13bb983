package mfaotel

import (
	"context"
	"fmt"

	"github.com/mfakit/mfa"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Attributes of the span events and the mfa.events counter.
const (
	eventTypeKey  = attribute.Key("mfa.event.type")
	authMethodKey = attribute.Key("mfa.method")
	errorCodeKey  = attribute.Key("mfa.error_code")
	failuresKey   = attribute.Key("mfa.failures")
	retryAfterKey = attribute.Key("mfa.retry_after")
	remainingKey  = attribute.Key("mfa.recovery_codes.remaining")
	scopesKey     = attribute.Key("mfa.token.scopes")
	singleUseKey  = attribute.Key("mfa.token.single_use")
	actionKey     = attribute.Key("mfa.action")
	keyIDKey      = attribute.Key("mfa.key_id")
	enrolledKey   = attribute.Key("mfa.enrolled")
)

// other is the metric attribute value of an event type, method or error
// code that this package does not know.
const other = "other"

// known is the set of attribute values the counter takes as they are.
var known = map[attribute.Key]map[string]bool{
	eventTypeKey:  {},
	authMethodKey: {string(mfa.MethodTOTP): true, string(mfa.MethodRecoveryCode): true},
	errorCodeKey:  {},
}

func init() {
	for _, t := range mfa.EventTypes() {
		known[eventTypeKey][string(t)] = true
	}
	for _, code := range mfa.ErrorCodes() {
		known[errorCodeKey][code] = true
	}
}

// bounded returns the attribute k=v for the counter, with v replaced by
// "other" when it is not one of k's known values.
func bounded(k attribute.Key, v string) attribute.KeyValue {
	if !known[k][v] {
		v = other
	}
	return k.String(v)
}

// EventHandler returns a function for mfa.Config.OnEvent that reports each
// event to OpenTelemetry:
//
//   - as an event on the recording span in the context of the call that
//     caused it (trace.SpanFromContext), named "mfa." and the event's type,
//     with the event's fields that identify no one, and the user ID if opts
//     ask for it ([WithHashedUserID], [WithUserID]);
//   - on the counter mfa.events of mp (nil: the global MeterProvider), by
//     type, method and error code, never by user.
//
// The package documentation lists the attributes. The function does not
// block and is safe for concurrent use. EventHandler fails only when mp
// cannot create the counter.
func EventHandler(mp metric.MeterProvider, opts ...Option) (func(context.Context, mfa.Event), error) {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	counter, err := mp.Meter(ScopeName).Int64Counter("mfa.events",
		metric.WithDescription("mfakit audit events, by type, method and error code."),
		metric.WithUnit("{event}"))
	if err != nil {
		return nil, fmt.Errorf("mfaotel: creating the mfa.events counter: %w", err)
	}
	h := &events{counter: counter, cfg: newConfig(opts)}
	return h.onEvent, nil
}

type events struct {
	counter metric.Int64Counter
	cfg     config
}

func (h *events) onEvent(ctx context.Context, e mfa.Event) {
	attrs := make([]attribute.KeyValue, 1, 3)
	attrs[0] = bounded(eventTypeKey, string(e.Type))
	if e.Method != "" {
		attrs = append(attrs, bounded(authMethodKey, string(e.Method)))
	}
	if e.ErrorCode != "" {
		attrs = append(attrs, bounded(errorCodeKey, e.ErrorCode))
	}
	h.counter.Add(ctx, 1, metric.WithAttributes(attrs...))

	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	opts := []trace.EventOption{trace.WithAttributes(h.spanAttributes(e)...)}
	if !e.Time.IsZero() {
		opts = append(opts, trace.WithTimestamp(e.Time))
	}
	span.AddEvent("mfa."+string(e.Type), opts...)
}

// spanAttributes returns the attributes of e's span event: every field
// that identifies no one, when it is set or when its zero value means
// something for e's type.
func (h *events) spanAttributes(e mfa.Event) []attribute.KeyValue {
	attrs := []attribute.KeyValue{eventTypeKey.String(string(e.Type))}
	if h.cfg.userID != nil && e.UserID != "" {
		attrs = append(attrs, h.cfg.userID(e.UserID))
	}
	if e.Method != "" {
		attrs = append(attrs, authMethodKey.String(string(e.Method)))
	}
	if e.ErrorCode != "" {
		attrs = append(attrs, errorCodeKey.String(e.ErrorCode))
	}
	switch e.Type {
	case mfa.EventAuthFailed, mfa.EventReplayRefused, mfa.EventLockedOut, mfa.EventUserUnlocked:
		attrs = append(attrs, failuresKey.Int(e.Failures))
	default:
		if e.Failures != 0 {
			attrs = append(attrs, failuresKey.Int(e.Failures))
		}
	}
	if e.Type == mfa.EventLockedOut || e.RetryAfter != 0 {
		attrs = append(attrs, retryAfterKey.Float64(e.RetryAfter.Seconds()))
	}
	switch e.Type {
	case mfa.EventAuthSucceeded, mfa.EventRecoveryCodeUsed, mfa.EventRecoveryCodesRegenerated,
		mfa.EventRecoveryCodesLow, mfa.EventRecoveryCodesAcknowledged:
		attrs = append(attrs, remainingKey.Int(e.Remaining))
	default:
		if e.Remaining != 0 {
			attrs = append(attrs, remainingKey.Int(e.Remaining))
		}
	}
	if len(e.Scopes) > 0 {
		attrs = append(attrs, scopesKey.StringSlice(e.Scopes))
	}
	switch e.Type {
	case mfa.EventTokenIssued, mfa.EventTokenConsumed, mfa.EventTokenValidated:
		attrs = append(attrs, singleUseKey.Bool(e.SingleUse))
	default:
		if e.SingleUse {
			attrs = append(attrs, singleUseKey.Bool(true))
		}
	}
	if e.Action != "" {
		attrs = append(attrs, actionKey.String(e.Action))
	}
	if e.KeyID != "" {
		attrs = append(attrs, keyIDKey.String(e.KeyID))
	}
	if e.Type == mfa.EventEnrollmentChecked || e.Enrolled {
		attrs = append(attrs, enrolledKey.Bool(e.Enrolled))
	}
	return attrs
}
