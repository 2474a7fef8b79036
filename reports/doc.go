// Package reports writes the case folder: summary, JSONL, Timesketch CSV,
// XLSX and HTML. It is built by its own issue; nothing here yet.
package reports
