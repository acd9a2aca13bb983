package mfaprom

import (
	"context"
	"errors"
	"fmt"

	"github.com/mfakit/mfa"
	"github.com/prometheus/client_golang/prometheus"
)

// other is the label value of an event type or method this package does
// not know, so that a label never takes an unbounded set of values.
const other = "other"

// methods are the values of the method label.
var methods = []mfa.Method{mfa.MethodTOTP, mfa.MethodRecoveryCode}

// Values of the result label of mfa_authentications_total.
const (
	resultSucceeded   = "succeeded"
	resultFailed      = "failed"
	resultReplay      = "replay"
	resultRateLimited = "rate_limited"
)

// Values of the result label of mfa_token_checks_total.
const (
	resultConsumed  = "consumed"
	resultValidated = "validated"
	resultRefused   = "refused"
)

// codeRateLimited is the ErrorCode of a refusal while the user is locked.
var codeRateLimited = mfa.ErrRateLimited.Code

// Metrics counts mfakit's events. Create it with [New]; it is safe for
// concurrent use.
type Metrics struct {
	events          *prometheus.CounterVec
	authentications *prometheus.CounterVec
	lockouts        prometheus.Counter
	tokensIssued    prometheus.Counter
	tokenChecks     *prometheus.CounterVec
	recoveryLow     prometheus.Counter

	known map[mfa.EventType]bool
}

// New creates the metrics and registers them with reg as one collector:
// either all of them are registered or, with an error, none. Registering
// twice with the same registry fails with a
// [prometheus.AlreadyRegisteredError]; a registry holds one Metrics.
func New(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		return nil, errors.New("mfaprom: New needs a prometheus.Registerer, e.g. prometheus.NewRegistry() or prometheus.DefaultRegisterer")
	}
	m := &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mfa_events_total",
			Help: "mfakit audit events, by type.",
		}, []string{"type"}),
		authentications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mfa_authentications_total",
			Help: "TOTP and recovery codes checked, by method and result (succeeded, failed, replay, rate_limited).",
		}, []string{"method", "result"}),
		lockouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mfa_lockouts_total",
			Help: "Failed attempts that locked a user out.",
		}),
		tokensIssued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mfa_tokens_issued_total",
			Help: "MFA tokens issued.",
		}),
		tokenChecks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mfa_token_checks_total",
			Help: "MFA tokens checked, by result (consumed, validated, refused).",
		}, []string{"result"}),
		recoveryLow: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mfa_recovery_codes_low_total",
			Help: fmt.Sprintf("Recovery codes used that left the user %d or fewer.", mfa.LowRecoveryCodes),
		}),
		known: make(map[mfa.EventType]bool),
	}
	for _, t := range mfa.EventTypes() {
		m.known[t] = true
		m.events.WithLabelValues(string(t))
	}
	for _, method := range methods {
		for _, r := range []string{resultSucceeded, resultFailed, resultReplay, resultRateLimited} {
			m.authentications.WithLabelValues(string(method), r)
		}
	}
	for _, r := range []string{resultConsumed, resultValidated, resultRefused} {
		m.tokenChecks.WithLabelValues(r)
	}
	if err := reg.Register(collectors{m.events, m.authentications, m.lockouts, m.tokensIssued, m.tokenChecks, m.recoveryLow}); err != nil {
		return nil, fmt.Errorf("mfaprom: registering the metrics: %w", err)
	}
	return m, nil
}

// OnEvent counts e. Its signature is that of mfa.Config.OnEvent; it does
// not block and never fails.
func (m *Metrics) OnEvent(_ context.Context, e mfa.Event) {
	typ := string(e.Type)
	if !m.known[e.Type] {
		typ = other
	}
	m.events.WithLabelValues(typ).Inc()

	switch e.Type {
	case mfa.EventAuthSucceeded:
		m.authentications.WithLabelValues(method(e.Method), resultSucceeded).Inc()
	case mfa.EventAuthFailed:
		result := resultFailed
		if e.ErrorCode == codeRateLimited {
			result = resultRateLimited
		}
		m.authentications.WithLabelValues(method(e.Method), result).Inc()
	case mfa.EventReplayRefused:
		m.authentications.WithLabelValues(method(e.Method), resultReplay).Inc()
	case mfa.EventLockedOut:
		m.lockouts.Inc()
	case mfa.EventTokenIssued:
		m.tokensIssued.Inc()
	case mfa.EventTokenConsumed:
		m.tokenChecks.WithLabelValues(resultConsumed).Inc()
	case mfa.EventTokenValidated:
		m.tokenChecks.WithLabelValues(resultValidated).Inc()
	case mfa.EventTokenRefused:
		m.tokenChecks.WithLabelValues(resultRefused).Inc()
	case mfa.EventRecoveryCodesLow:
		m.recoveryLow.Inc()
	}
}

// method returns the method label of an authentication event.
func method(m mfa.Method) string {
	switch m {
	case mfa.MethodTOTP, mfa.MethodRecoveryCode:
		return string(m)
	}
	return other
}

// collectors registers several collectors as one, so that a registration
// either takes all of them or none.
type collectors []prometheus.Collector

// Describe implements prometheus.Collector.
func (cs collectors) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range cs {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (cs collectors) Collect(ch chan<- prometheus.Metric) {
	for _, c := range cs {
		c.Collect(ch)
	}
}
