// Package detections runs lateral-movement rules over the timeline and
// produces findings: the rule format, the embedded rule pack, path
// normalization and Sigma compilation. It is built by its own issue; nothing
// here yet.
package detections
