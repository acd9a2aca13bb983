// Package mfaprom counts mfakit's audit events as Prometheus metrics.
//
// [New] registers the metrics with a [prometheus.Registerer]; pass
// [Metrics.OnEvent] as mfa.Config.OnEvent, or call it from the handler
// already there:
//
//	metrics, err := mfaprom.New(reg)
//	...
//	m, err := mfa.New(mfa.Config{
//		...
//		OnEvent: func(ctx context.Context, e mfa.Event) {
//			metrics.OnEvent(ctx, e)
//			audit.Log(ctx, e) // yours
//		},
//	})
//
// The metrics, all counters:
//
//	mfa_events_total{type}                    every event, by its type ("auth.failed", ...)
//	mfa_authentications_total{method,result}  codes checked: method "totp" or "recovery_code",
//	                                          result "succeeded", "failed", "replay" or "rate_limited"
//	mfa_lockouts_total                        failures that locked a user out
//	mfa_tokens_issued_total                   MFA tokens issued
//	mfa_token_checks_total{result}            MFA tokens checked: "consumed" (used up),
//	                                          "validated" (accepted and kept) or "refused"
//	mfa_recovery_codes_low_total              recovery code uses that left mfa.LowRecoveryCodes (2) or fewer
//
// Every label takes its values from a fixed list, so that the number of
// series does not grow with users: an event type or method that this
// package does not know is counted as "other". No label carries a user ID,
// a device ID, a token's scopes or an action's name; events carry no
// secret. Every series of these lists starts at zero, so that rate() and
// alerts see the first event.
//
// To prefix the names or add constant labels, wrap the registerer with
// [prometheus.WrapRegistererWithPrefix] or [prometheus.WrapRegistererWith].
package mfaprom
