package mfaprom_test

import (
	"context"
	"log"
	"log/slog"
	"net/http"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
	"github.com/mfakit/mfa/mfaprom"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The metrics go to Config.OnEvent, here beside an audit log, and are
// served at /metrics.
func ExampleNew() {
	reg := prometheus.NewRegistry()
	metrics, err := mfaprom.New(reg)
	if err != nil {
		log.Fatal(err)
	}
	key, err := mfa.GenerateKey("2026-11")
	if err != nil {
		log.Fatal(err)
	}
	keys, err := mfa.NewKeyring(key)
	if err != nil {
		log.Fatal(err)
	}
	m, err := mfa.New(mfa.Config{
		Store:  memstore.New(),
		Issuer: "Acme",
		Keys:   keys,
		OnEvent: func(ctx context.Context, e mfa.Event) {
			metrics.OnEvent(ctx, e)
			slog.InfoContext(ctx, "mfa event", "type", e.Type, "user", e.UserID, "error", e.ErrorCode)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = m // used by the service's handlers

	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	log.Fatal(http.ListenAndServe("localhost:9090", nil))
}
