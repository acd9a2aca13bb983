package mfaotel_test

import (
	"context"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
	"github.com/mfakit/mfa/mfaotel"
	"github.com/mfakit/mfa/mfaprom"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
)

// A service with both adapters: Prometheus metrics served at /metrics,
// and OpenTelemetry spans around store calls with the events on the
// request's span, through the providers the service set up with
// otel.SetTracerProvider and otel.SetMeterProvider. The README shows this
// code as a program.
func Example_observability() {
	reg := prometheus.NewRegistry()
	metrics, err := mfaprom.New(reg)
	if err != nil {
		log.Fatal(err)
	}
	otelEvents, err := mfaotel.EventHandler(otel.GetMeterProvider())
	if err != nil {
		log.Fatal(err)
	}
	key, err := mfa.DecodeKey(os.Getenv("MFA_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	keys, err := mfa.NewKeyring(key)
	if err != nil {
		log.Fatal(err)
	}
	m, err := mfa.New(mfa.Config{
		Store:  mfaotel.WrapStore(memstore.New(), otel.GetTracerProvider()),
		Issuer: "Acme",
		Keys:   keys,
		OnEvent: func(ctx context.Context, e mfa.Event) {
			metrics.OnEvent(ctx, e)
			otelEvents(ctx, e)
		},
	})
	if err != nil {
		log.Fatal(err)
	}

	// The wrapped store is still an mfa.Cleaner, so Cleanup still cleans.
	go func() {
		for range time.Tick(time.Hour) {
			if err := m.Cleanup(context.Background()); err != nil {
				log.Print(err)
			}
		}
	}()

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	// ... the service's routes, which call m ...
	log.Fatal(http.ListenAndServe(":8080", mux))
}

// A keyed hash of the user ID on spans and span events lets one user's
// calls be found together without naming the user.
func ExampleWithHashedUserID() {
	// A secret of the service's own, e.g. from its secret manager.
	pseudonymKey := []byte(os.Getenv("TRACE_PSEUDONYM_KEY"))
	store := mfaotel.WrapStore(memstore.New(), otel.GetTracerProvider(), mfaotel.WithHashedUserID(pseudonymKey))
	events, err := mfaotel.EventHandler(otel.GetMeterProvider(), mfaotel.WithHashedUserID(pseudonymKey))
	if err != nil {
		log.Fatal(err)
	}
	_, _ = store, events // for mfa.Config's Store and OnEvent
}
