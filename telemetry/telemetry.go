// Package telemetry is what an operator sees of a running Roster beside its
// answers: Prometheus metrics on a listener of their own, the request id
// every response and log line carries, and optional OpenTelemetry traces.
// It imports no Roster package: the packages it counts for declare the
// small interface they call (auth.Meter, admin.Meter, mail.Meter), storage
// is read through Database, and cmd/roster/app wires them together.
package telemetry
